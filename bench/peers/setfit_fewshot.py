"""The few-shot peer: the SetFit library (PyPI setfit) on the same encoder and data as Hone.

Its recipe as the SetFit paper runs it: a contrastive stage of 20 pairs per example (half similar,
half not; num_iterations=20), batch 16, one epoch, body learning rate 2e-5 (setfit's default),
then setfit's default head, scikit-learn's LogisticRegression on the frozen embeddings. setfit's
own default without num_iterations draws every pair of the training set (oversampling: for 750
examples over 150 labels about 560,000 pairs), which no user waits for on a CPU.

Input: one JSON argument {model, train, test, seed, num_iterations, batch_size, epochs, threads}.
Output: one JSON line {accuracy, count, train_seconds, predict_seconds, versions}.
"""

import json
import shutil
import sys
import tempfile
import time

import torch


def read(path):
    rows = [json.loads(line) for line in open(path, encoding="utf8") if line.strip()]
    return [r["text"] for r in rows], [r["label"] for r in rows]


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

    x_train, y_train = read(args["train"])
    x_test, y_test = read(args["test"])
    scratch = tempfile.mkdtemp(prefix="setfit-")
    t0 = time.time()
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
    correct = sum(int(p == y) for p, y in zip(predicted, y_test))
    print(
        json.dumps(
            {
                "accuracy": correct / len(y_test),
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
