"""The peer for extractive QA: the Hugging Face Trainer as its question-answering recipe is written
(examples/pytorch/question-answering/run_qa.py and the course's chapter 7): a fast tokenizer cuts
(question, context) pairs into windows (truncation="only_second", stride, offsets), the answer's
start and end tokens are the labels (the [CLS] token when the answer is not inside a window),
AutoModelForQuestionAnswering, and the post-processing keeps the n best starts and ends per window
and the best valid span over a question's windows.

Prints one JSON line: the predicted answer of every test question (scored by bench/qa.mjs with the
same official SQuAD scorer as Hone's) and the wall time.
"""

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments  # noqa: E402


def read_squad(path):
    doc = json.load(open(path, encoding="utf-8"))
    out = []
    for article in doc["data"]:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                out.append({"id": qa["id"], "question": qa["question"], "context": p["context"], "answers": qa["answers"]})
    return out


class Rows(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def main():
    ap = argparse.ArgumentParser()
    for k in ("train", "validation", "test", "model", "out"):
        ap.add_argument(f"--{k}", required=True)
    ap.add_argument("--epochs", type=float, required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--batch-size", type=int, required=True)
    ap.add_argument("--max-length", type=int, required=True)
    ap.add_argument("--stride", type=int, required=True)
    ap.add_argument("--warmup-ratio", type=float, required=True)
    ap.add_argument("--weight-decay", type=float, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--n-best", type=int, default=20)
    ap.add_argument("--max-answer", type=int, default=30)
    ap.add_argument("--compile", action="store_true")
    a = ap.parse_args()
    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(a.model)
    train, test = read_squad(a.train), read_squad(a.test)

    def features(examples, labelled):
        enc = tok(
            [e["question"].lstrip() for e in examples],
            [e["context"] for e in examples],
            truncation="only_second",
            max_length=a.max_length,
            stride=a.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        items, meta = [], []
        for i in range(len(enc["input_ids"])):
            ex = examples[enc["overflow_to_sample_mapping"][i]]
            seq = enc.sequence_ids(i)
            offsets = [o if seq[k] == 1 else None for k, o in enumerate(enc["offset_mapping"][i])]
            item = {"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i]}
            if "token_type_ids" in enc:
                item["token_type_ids"] = enc["token_type_ids"][i]
            if labelled:
                s, e = 0, 0
                if ex["answers"]:
                    ans = ex["answers"][0]
                    cs, ce = ans["answer_start"], ans["answer_start"] + len(ans["text"])
                    ctx = [k for k, o in enumerate(offsets) if o is not None]
                    if offsets[ctx[0]][0] <= cs and offsets[ctx[-1]][1] >= ce:
                        s = next(k for k in ctx if offsets[k][1] > cs)
                        e = max(k for k in ctx if offsets[k][0] < ce)
                item["start_positions"], item["end_positions"] = s, e
            items.append(item)
            meta.append((enc["overflow_to_sample_mapping"][i], offsets))
        return Rows(items), meta

    train_rows, _ = features(train, True)
    test_rows, test_meta = features(test, False)
    torch.manual_seed(a.seed)
    model = AutoModelForQuestionAnswering.from_pretrained(a.model, use_safetensors=True)
    args = TrainingArguments(
        output_dir=a.out,
        num_train_epochs=a.epochs,
        learning_rate=a.lr,
        per_device_train_batch_size=a.batch_size,
        per_device_eval_batch_size=128,
        warmup_steps=a.warmup_ratio,  # transformers 5: a float < 1 is a fraction of all steps
        weight_decay=a.weight_decay,
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        save_strategy="no",
        seed=a.seed,
        data_seed=a.seed,
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        torch_compile=a.compile,
        report_to=[],
        logging_strategy="no",
    )
    trainer = Trainer(model=model, args=args, train_dataset=train_rows, data_collator=DataCollatorWithPadding(tok))
    trainer.train()
    start_logits, end_logits = trainer.predict(test_rows).predictions[:2]
    best = {}
    for f, (ex_i, offsets) in enumerate(test_meta):
        s_log, e_log = start_logits[f], end_logits[f]
        starts = np.argsort(s_log)[-1 : -a.n_best - 1 : -1]
        ends = np.argsort(e_log)[-1 : -a.n_best - 1 : -1]
        for s in starts:
            for e in ends:
                if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None or e < s or e - s + 1 > a.max_answer:
                    continue
                score = float(s_log[s] + e_log[e])
                if ex_i not in best or score > best[ex_i][0]:
                    best[ex_i] = (score, test[ex_i]["context"][offsets[s][0] : offsets[e][1]])
    answers = [best.get(i, (0.0, ""))[1] for i in range(len(test))]
    print(
        json.dumps(
            {
                "answers": answers,
                "ids": [e["id"] for e in test],
                "wall_s": time.time() - t0,
                "transformers": __import__("transformers").__version__,
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
