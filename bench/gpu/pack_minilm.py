"""Pack the default model small enough to travel to the device (no hub there, 64 MiB per call):
rows of the word-embedding table that no text of the benchmark data ever uses are zeroed (they
are never looked up, so training and predictions on that data do not change) and the weights are
stored as fp16 (a rounding: every row of a benchmark table uses the same packed weights).
bench/gpu/unpack_minilm.py turns them back into fp32 on the device. Without texts files every row
is kept: for text no one knows in advance (augmentation's generated examples, whose words a zeroed
row would silently turn into zero vectors).
    python bench/gpu/pack_minilm.py <model dir> <out dir> [<texts file>...]
"""

import csv
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

src, dst, files = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
dst.mkdir(parents=True, exist_ok=True)
tok = Tokenizer.from_file(str(src / "tokenizer.json"))
texts = []
for f in files:
    raw = Path(f).read_text()
    if f.endswith(".jsonl"):
        texts += [json.loads(line)["doc_token"] for line in raw.splitlines() if line.strip()]
    elif f.endswith("seq.in"):  # SNIPS: words per line
        texts += [line for line in raw.splitlines() if line.strip()]
    elif f.endswith((".conll", ".annotated")):  # WNUT-17: token<TAB>tag per line
        texts += [line.split("\t")[0] for line in raw.splitlines() if line.strip()]
    elif f.endswith(".csv"):  # BANKING77: text,category
        texts += [row["text"] for row in csv.DictReader(raw.splitlines())]
    elif '"paragraphs"' in raw[:2000]:  # SQuAD: contexts and questions
        doc = json.loads(raw)
        texts += [t for a in doc["data"] for p in a["paragraphs"] for t in [p["context"], *(q["question"] for q in p["qas"])]]
    else:  # CLINC150 data_full.json: {split: [[text, intent], ...]}
        texts += [row[0] for rows in json.loads(raw).values() for row in rows]
used = set(tok.get_vocab()[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"))
for enc in tok.encode_batch(texts):
    used.update(enc.ids)
state = load_file(str(src / "model.safetensors"))
key = next(k for k in state if k.endswith("word_embeddings.weight"))
mask = torch.zeros(state[key].shape[0], dtype=torch.bool)
mask[list(used)] = True
if not files:
    mask[:] = True
state[key][~mask] = 0
save_file({k: v.to(torch.float16).contiguous() for k, v in state.items()}, str(dst / "model.safetensors"))
for p in src.iterdir():
    if p.name != "model.safetensors":
        (shutil.copytree if p.is_dir() else shutil.copy)(p, dst / p.name)
print(f"{int(mask.sum())} of {mask.numel()} vocabulary rows kept ({len(texts)} texts)")
