"""The peer: a plain Hugging Face Trainer fine-tune, as an experienced user writes it.

AutoModelForSequenceClassification + AutoTokenizer + DataCollatorWithPadding (dynamic padding),
evaluation per epoch, best model by validation accuracy, then accuracy on the test split.
Prints one JSON line with the result. Used by bench/classify.mjs with the same model, epochs,
batch size, learning rate and max length as the Hone run it is compared with.
"""

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402
from datasets_free import load_rows  # noqa: E402  (local helper below, no `datasets` dependency)
from transformers import (  # noqa: E402
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)


class Rows(torch.utils.data.Dataset):
    def __init__(self, enc, labels):
        self.enc, self.labels = enc, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        item = {k: v[i] for k, v in self.enc.items()}
        item["labels"] = self.labels[i]
        return item


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True, help="JSON: {train, validation, test} -> [file, pointer, text, label]")
    ap.add_argument("--model", required=True)
    ap.add_argument("--epochs", type=float, required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--batch-size", type=int, required=True)
    ap.add_argument("--max-length", type=int, required=True)
    ap.add_argument("--warmup-ratio", type=float, required=True)
    ap.add_argument("--weight-decay", type=float, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    t0 = time.time()
    spec = json.loads(args.spec)
    splits = {k: load_rows(*v) for k, v in spec.items() if v}
    labels = sorted({l for _, l in splits["train"]})
    index = {l: i for i, l in enumerate(labels)}
    tok = AutoTokenizer.from_pretrained(args.model)
    data = {}
    for k, rows in splits.items():
        enc = tok([t for t, _ in rows], truncation=True, max_length=args.max_length)
        data[k] = Rows(enc, [index[l] for _, l in rows])
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=len(labels))

    def accuracy(pred):
        return {"accuracy": float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())}

    has_val = "validation" in data
    targs = TrainingArguments(
        output_dir=args.out,
        num_train_epochs=args.epochs,
        learning_rate=args.lr,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=128,
        warmup_steps=args.warmup_ratio,  # transformers 5: a float < 1 is a fraction of all steps
        weight_decay=args.weight_decay,
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        eval_strategy="epoch" if has_val else "no",
        save_strategy="epoch" if has_val else "no",
        save_total_limit=2,
        load_best_model_at_end=has_val,
        metric_for_best_model="accuracy",
        logging_steps=50,
        seed=args.seed,
        report_to=[],
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model,
        args=targs,
        train_dataset=data["train"],
        eval_dataset=data.get("validation"),
        data_collator=DataCollatorWithPadding(tok),
        compute_metrics=accuracy,
    )
    trainer.train()
    test = trainer.evaluate(data["test"], metric_key_prefix="test")
    print(json.dumps({"test_accuracy": test["test_accuracy"], "wall_s": time.time() - t0, "torch_threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
