"""Build a tiny random-weight BERT with a real WordPiece tokenizer.json, for tests.

python -m hone_engine.testing.tiny_model OUT_DIR [TEXT_FILE ...]
The vocabulary is the words of the given texts (JSONL with "text", or plain lines), so the
tokenizer covers the test data; weights are random from a fixed seed.
"""

import json
import re
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from transformers import BertConfig, BertModel

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def words(paths):
    out = set()
    for p in paths:
        for line in Path(p).read_text().splitlines():
            if not line.strip():
                continue
            text = json.loads(line).get("text", "") if line.lstrip().startswith("{") else line
            out.update(re.findall(r"\w+|[^\w\s]", text.lower()))
    return sorted(out)


def build(out_dir: str, text_files: list, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Single characters as fallbacks for unseen words; first occurrence wins, so every id < vocab_size.
    tokens = dict.fromkeys(SPECIALS + words(text_files) + list("abcdefghijklmnopqrstuvwxyz0123456789"))
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.decoder = decoders.WordPiece()
    tok.save(str(out / "tokenizer.json"))
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=128,
        pad_token_id=0,
    )
    BertModel(config).save_pretrained(out, safe_serialization=True)
    return out


if __name__ == "__main__":
    print(build(sys.argv[1], sys.argv[2:]))
