"""Build a tiny random-weight Llama-architecture causal LM with a real byte-level BPE tokenizer
and a ChatML chat template, or (--seq2seq) a tiny T5 encoder-decoder with a T5-style tokenizer
(</s> appended to every text, no chat template), for tests.

python -m hone_engine.testing.tiny_lm [--seq2seq] OUT_DIR [TEXT_FILE ...]
The BPE merges are learnt from the given files (any text: JSONL is read as text), so common
words are single tokens and generations stay short; byte-level fallback covers every string.
"""

import json
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

PAD, START, END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
# The template of ChatML models (SmolLM2, Qwen2): every turn is <|im_start|>role\n...<|im_end|>\n.
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _tokenizer(text_files: list, vocab: int, specials: list) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    texts = [line for f in text_files for line in Path(f).read_text().splitlines() if line.strip()]
    tok.train_from_iterator(texts or ["hello world"], trainer)
    return tok


def build_seq2seq(out_dir: str, text_files: list, hidden: int = 64, layers: int = 2, vocab: int = 400, seed: int = 0) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pad, eos = "<pad>", "</s>"
    tok = _tokenizer(text_files, vocab, [pad, eos])
    tok.post_processor = processors.TemplateProcessing(single=f"$A {eos}", special_tokens=[(eos, tok.token_to_id(eos))])
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": eos, "pad_token": pad, "model_max_length": 512}, indent=2)
    )
    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=tok.get_vocab_size(),
        d_model=hidden,
        d_kv=hidden // 4,
        d_ff=hidden * 2,
        num_layers=layers,
        num_decoder_layers=layers,
        num_heads=4,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        dropout_rate=0.0,
        pad_token_id=tok.token_to_id(pad),
        eos_token_id=tok.token_to_id(eos),
        decoder_start_token_id=tok.token_to_id(pad),
    )
    T5ForConditionalGeneration(config).save_pretrained(out, safe_serialization=True)
    return out


def build(out_dir: str, text_files: list, hidden: int = 64, layers: int = 2, vocab: int = 400, seed: int = 0) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer(text_files, vocab, [PAD, START, END])
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": None,
                "eos_token": END,
                "pad_token": PAD,
                "chat_template": CHATML,
                "model_max_length": 512,
            },
            indent=2,
        )
    )
    torch.manual_seed(seed)
    # initializer_range 0.2, not the usual 0.02: at width 64 with a frozen output layer (LoRA
    # ties it to the frozen embeddings) logits of 0.02-scale weights cannot exceed ~1, so no
    # adapter could make the model confident; real pretrained models have no such ceiling.
    config = LlamaConfig(
        initializer_range=0.2,
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,  # RoPE: no weights depend on it; covers the 1024-token default rows
        tie_word_embeddings=True,
        pad_token_id=tok.token_to_id(PAD),
        eos_token_id=tok.token_to_id(END),
        bos_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)
    return out


if __name__ == "__main__":
    if sys.argv[1] == "--seq2seq":
        print(build_seq2seq(sys.argv[2], sys.argv[3:]))
    else:
        print(build(sys.argv[1], sys.argv[2:]))
