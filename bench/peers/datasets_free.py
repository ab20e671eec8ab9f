"""Read benchmark rows (text, label) from JSONL, CSV or a JSON document with a pointer, the same files Hone reads."""

import csv
import json


def load_rows(path, pointer, text, label):
    if path.endswith(".csv"):
        with open(path, newline="") as f:
            return [(r[text], r[label]) for r in csv.DictReader(f)]
    if path.endswith(".jsonl"):
        with open(path) as f:
            return [(r[text], r[label]) for r in map(json.loads, filter(str.strip, f))]
    node = json.load(open(path))
    for part in (pointer or "").split("/")[1:]:
        node = node[part]
    key = lambda r, k: r[int(k)] if isinstance(r, list) else r[k]  # noqa: E731
    return [(key(r, text), key(r, label)) for r in node]
