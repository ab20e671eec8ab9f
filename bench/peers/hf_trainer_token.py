"""The peer for token tasks: Hugging Face Trainer as its token-classification recipe is written
(run_ner.py / the course's NER chapter): AutoModelForTokenClassification, the first word piece of
each word labelled and the others -100, DataCollatorForTokenClassification, evaluation per epoch,
the best model by validation entity F1 (seqeval), then the test split.

Joint intent + slot data (a seq.in / seq.out / label folder) has no joint model in transformers:
a careful user trains a second model, AutoModelForSequenceClassification on the intents, with the
same settings; both are timed and their wall times added.

Prints one JSON line: the predicted tags of every test word (scored by bench/token.mjs with the
same scorer as Hone's), seqeval's own scores when seqeval is installed, and the wall times.
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)


def read_conll(path):
    sents, words, tags = [], [], []
    for line in Path(path).read_text(encoding="utf-8").split("\n"):
        line = line.rstrip("\r")
        if not line.strip() or line.split()[0] == "-DOCSTART-":
            if words:
                sents.append((words, tags, None))
            words, tags = [], []
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        words.append(cols[0].strip())
        tags.append(cols[-1].strip())
    if words:
        sents.append((words, tags, None))
    return sents


def read_seq(folder):
    folder = Path(folder)
    ins = folder.joinpath("seq.in").read_text(encoding="utf-8").split("\n")
    outs = folder.joinpath("seq.out").read_text(encoding="utf-8").split("\n")
    label = folder / "label"
    intents = label.read_text(encoding="utf-8").split("\n") if label.exists() else [None] * len(ins)
    return [(i.split(), o.split(), (n.strip() or None) if n else None) for i, o, n in zip(ins, outs, intents) if i.strip()]


def read(path):
    return read_seq(path) if Path(path).is_dir() else read_conll(path)


class Rows(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def args_for(a, out, metric):
    return TrainingArguments(
        output_dir=out,
        num_train_epochs=a.epochs,
        learning_rate=a.lr,
        per_device_train_batch_size=a.batch_size,
        per_device_eval_batch_size=128,
        warmup_steps=a.warmup_ratio,  # transformers 5: a float < 1 is a fraction of all steps
        weight_decay=a.weight_decay,
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model=metric,
        greater_is_better=True,
        seed=a.seed,
        data_seed=a.seed,
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        torch_compile=a.compile,
        report_to=[],
        logging_strategy="no",
        dataloader_num_workers=0,
    )


def entities(tags):
    """conlleval chunks (the same rules as Hone's scorer and seqeval's default)."""
    out, start, prev, ptype = [], -1, "O", ""
    for i, t in enumerate(tags + ["O"]):
        p, typ = ("O", "") if t == "O" else (t[0].replace("L", "E").replace("U", "S"), t[2:])
        end = prev in ("E", "S") or (prev in ("B", "I") and (p in ("B", "S", "O") or typ != ptype)) or (prev != "O" and ptype != typ)
        if start >= 0 and end:
            out.append((start, i, ptype))
            start = -1
        if p in ("B", "S") or (prev in ("E", "S", "O") and p in ("I", "E")) or (p != "O" and ptype != typ):
            start = i
        prev, ptype = p, typ
    return out


def f1_of(true_tags, pred_tags):
    right = npred = ntrue = 0
    for t, p in zip(true_tags, pred_tags):
        te, pe = set(entities(t)), set(entities(p))
        right += len(te & pe)
        npred += len(pe)
        ntrue += len(te)
    prec = right / npred if npred else 0.0
    rec = right / ntrue if ntrue else 0.0
    return 2 * prec * rec / (prec + rec) if prec + rec else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--validation", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--epochs", type=float, required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--batch-size", type=int, required=True)
    ap.add_argument("--max-length", type=int, required=True)
    ap.add_argument("--warmup-ratio", type=float, required=True)
    ap.add_argument("--weight-decay", type=float, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--compile", action="store_true", help="torch.compile (the strong peer on a GPU)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    t0 = time.time()
    splits = {k: read(getattr(a, k)) for k in ("train", "validation", "test")}
    tag_list = sorted({t for _, tags, _ in splits["train"] for t in tags}, key=lambda t: (t != "O", t))
    tag_id = {t: i for i, t in enumerate(tag_list)}
    tok = AutoTokenizer.from_pretrained(a.model)

    def encode_tags(sents):
        enc = tok([w for w, _, _ in sents], is_split_into_words=True, truncation=True, max_length=a.max_length)
        items = []
        for i, (_, tags, _) in enumerate(sents):
            word_ids, labels, seen = enc.word_ids(i), [], set()
            for w in word_ids:
                if w is None or w in seen:
                    labels.append(-100)
                else:
                    seen.add(w)
                    labels.append(tag_id.get(tags[w], 0))
            items.append({"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i], "labels": labels})
        return Rows(items), enc

    data = {k: encode_tags(v) for k, v in splits.items()}
    torch.manual_seed(a.seed)
    model = AutoModelForTokenClassification.from_pretrained(
        a.model, num_labels=len(tag_list), id2label=dict(enumerate(tag_list)), label2id=tag_id, use_safetensors=True
    )

    def word_tags(logits, split):
        sents, (_, enc) = splits[split], data[split]
        out = []
        for i, (words, _, _) in enumerate(sents):
            pred, seen = ["O"] * len(words), set()
            for t, w in enumerate(enc.word_ids(i)):
                if w is not None and w not in seen:
                    seen.add(w)
                    pred[w] = tag_list[int(np.argmax(logits[i][t]))]
            out.append(pred)
        return out

    def metrics(p):
        logits = p.predictions
        pred = word_tags(logits, "validation")
        return {"f1": f1_of([t for _, t, _ in splits["validation"]], pred)}

    trainer = Trainer(
        model=model,
        args=args_for(a, str(Path(a.out) / "tags"), "f1"),
        train_dataset=data["train"][0],
        eval_dataset=data["validation"][0],
        data_collator=DataCollatorForTokenClassification(tok),
        compute_metrics=metrics,
    )
    trainer.train()
    logits = trainer.predict(data["test"][0]).predictions
    test_tags = word_tags(logits, "test")
    tag_wall = time.time() - t0
    result = {"test_tags": test_tags, "tag_wall_s": tag_wall, "transformers": __import__("transformers").__version__, "torch": torch.__version__}
    try:
        from seqeval.metrics import f1_score

        result["seqeval_f1"] = f1_score([t for _, t, _ in splits["test"]], test_tags)
    except ImportError:
        result["seqeval_f1"] = None

    if splits["train"][0][2] is not None:
        t1 = time.time()
        intents = sorted({n for _, _, n in splits["train"]})
        iid = {n: i for i, n in enumerate(intents)}

        def encode_intents(sents):
            enc = tok([" ".join(w) for w, _, _ in sents], truncation=True, max_length=a.max_length)
            return Rows(
                [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i], "labels": iid.get(n, 0)} for i, (_, _, n) in enumerate(sents)]
            )

        torch.manual_seed(a.seed)
        clf = AutoModelForSequenceClassification.from_pretrained(a.model, num_labels=len(intents), use_safetensors=True)
        intent_trainer = Trainer(
            model=clf,
            args=args_for(a, str(Path(a.out) / "intent"), "accuracy"),
            train_dataset=encode_intents(splits["train"]),
            eval_dataset=encode_intents(splits["validation"]),
            data_collator=DataCollatorWithPadding(tok),
            compute_metrics=lambda p: {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())},
        )
        intent_trainer.train()
        pred = intent_trainer.predict(encode_intents(splits["test"])).predictions.argmax(-1)
        result["test_intents"] = [intents[int(k)] for k in pred]
        result["intent_wall_s"] = time.time() - t1
    result["wall_s"] = time.time() - t0
    print(json.dumps(result))


if __name__ == "__main__":
    main()
