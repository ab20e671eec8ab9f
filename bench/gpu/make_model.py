"""A bert-base-shaped random model (hidden 768, 12 layers, 12 heads) with the BERT uncased tokenizer."""

import shutil
import sys
from pathlib import Path

import torch
from transformers import BertConfig, BertModel

out, tokenizer = Path(sys.argv[1]), sys.argv[2]
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
BertModel(BertConfig()).save_pretrained(out, safe_serialization=True)
shutil.copy(tokenizer, out / "tokenizer.json")
print(out)
