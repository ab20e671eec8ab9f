"""The few-shot peer: the SetFit library (PyPI setfit) on the same encoder and data as Hone.

Its recipe as the SetFit paper runs it: a contrastive stage of 20 pairs per example (half similar,
half not; num_iterations=20), batch 16, one epoch, body learning rate 2e-5 (setfit's default),
then setfit's default head, scikit-learn's LogisticRegression on the frozen embeddings. setfit's
own default without num_iterations draws every pair of the training set (oversampling: for 750
examples over 150 labels about 560,000 pairs), which no user waits for on a CPU.

Multi-label data ("multi_label": true, each row's "label" field a list): setfit's
multi_target_strategy="one-vs-rest" (one logistic regression per label, each deciding at 0.5).

Input: one JSON argument {model, train, test, seed, num_iterations, batch_size, epochs, threads,
label (the field; default "label"), multi_label (default false), head_params (multi-label: the
logistic regressions' keyword arguments; default none)}.
Output: one JSON line {accuracy, count, train_seconds, predict_seconds, versions}; multi-label:
{micro_f1, macro_f1, subset_accuracy, count, ...} instead of accuracy.
"""

import json
import shutil
import sys
import tempfile
import time

import numpy as np
import torch


def read(path, field):
    rows = [json.loads(line) for line in open(path, encoding="utf8") if line.strip()]
    return [r["text"] for r in rows], [r[field] for r in rows]


def multi_label_metrics(predicted, truth):
    """Micro-F1 over every (example, label) decision, macro-F1 over the labels that occur in the
    truth or the predictions, and subset accuracy (the whole label set right)."""
    p, t = predicted.astype(bool), truth.astype(bool)
    tp, fp, fn = (p & t).sum(0), (p & ~t).sum(0), (~p & t).sum(0)
    f1 = lambda a, b, c: 2 * a / (2 * a + b + c) if a + b + c else 0.0  # noqa: E731
    seen = (t.sum(0) + p.sum(0)) > 0
    per_label = [f1(tp[i], fp[i], fn[i]) for i in range(t.shape[1]) if seen[i]]
    return {
        "micro_f1": float(f1(tp.sum(), fp.sum(), fn.sum())),
        "macro_f1": float(sum(per_label) / max(1, len(per_label))),
        "subset_accuracy": float((p == t).all(1).mean()),
    }


def main():
    args = json.loads(sys.argv[1])
    torch.set_num_threads(args["threads"])
    # datasets fingerprints a new Dataset by pickling it with dill, which fails on this machine's
    # pyarrow (MonthDayNano); the fingerprint only names cache files, so a random one changes nothing
    # that SetFit computes.
    import uuid

    import datasets
    import datasets.arrow_dataset
    import sentence_transformers
    import setfit
    import sklearn
    from setfit import SetFitModel, Trainer, TrainingArguments

    datasets.arrow_dataset.generate_fingerprint = lambda _dataset: uuid.uuid4().hex

    field, multi = args.get("label", "label"), args.get("multi_label", False)
    x_train, y_train = read(args["train"], field)
    x_test, y_test = read(args["test"], field)
    if multi:
        # Multi-hot rows over the training labels (a test label never trained on counts as missed).
        names = sorted({label for labels in y_train for label in labels})
        index = {name: i for i, name in enumerate(names)}
        test_names = sorted({label for labels in y_test for label in labels} - set(names))
        index.update({name: len(names) + i for i, name in enumerate(test_names)})

        def hot(rows, width):
            out = np.zeros((len(rows), width), dtype=np.int64)
            for r, labels in enumerate(rows):
                for label in labels:
                    out[r, index[label]] = 1
            return out

        y_train, y_test = hot(y_train, len(names)).tolist(), hot(y_test, len(index))
    scratch = tempfile.mkdtemp(prefix="setfit-")
    t0 = time.time()
    if multi:
        # head_params: the logistic regressions' settings, e.g. {"class_weight": "balanced"}.
        model = SetFitModel.from_pretrained(args["model"], multi_target_strategy="one-vs-rest", head_params=args.get("head_params") or {})
    else:
        model = SetFitModel.from_pretrained(args["model"], labels=sorted(set(y_train)))
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            # Its checkpoints go to a temporary folder (by default: ./checkpoints, in the project).
            output_dir=scratch,
            batch_size=args["batch_size"],
            num_epochs=args["epochs"],
            num_iterations=args["num_iterations"],
            seed=args["seed"],
            report_to="none",
            show_progress_bar=False,
        ),
        train_dataset=datasets.Dataset.from_dict({"text": x_train, "label": y_train}),
    )
    trainer.train()
    train_seconds = time.time() - t0
    t1 = time.time()
    predicted = model.predict(x_test, batch_size=128, as_numpy=True)
    predict_seconds = time.time() - t1
    shutil.rmtree(scratch, ignore_errors=True)
    if multi:
        wide = np.zeros(y_test.shape, dtype=np.int64)
        wide[:, : len(names)] = np.asarray(predicted)
        scores = multi_label_metrics(wide, y_test)
    else:
        scores = {"accuracy": sum(int(p == y) for p, y in zip(predicted, y_test)) / len(y_test)}
    print(
        json.dumps(
            {
                **scores,
                "count": len(y_test),
                "train_seconds": train_seconds,
                "predict_seconds": predict_seconds,
                "versions": {
                    "setfit": setfit.__version__,
                    "sentence_transformers": sentence_transformers.__version__,
                    "sklearn": sklearn.__version__,
                    "torch": torch.__version__,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
