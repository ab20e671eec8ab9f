"""Build a tiny random-weight Llama-architecture causal LM with a real byte-level BPE tokenizer
and a ChatML chat template, for tests.

python -m hone_engine.testing.tiny_lm OUT_DIR [TEXT_FILE ...]
The BPE merges are learnt from the given files (any text: JSONL is read as text), so common
words are single tokens and generations stay short; byte-level fallback covers every string.
"""
import json
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM

PAD, START, END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
# The template of ChatML models (SmolLM2, Qwen2): every turn is <|im_start|>role\n...<|im_end|>\n.
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def build(out_dir: str, text_files: list, hidden: int = 64, layers: int = 2, vocab: int = 400, seed: int = 0) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=[PAD, START, END], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    texts = [line for f in text_files for line in Path(f).read_text().splitlines() if line.strip()]
    tok.train_from_iterator(texts or ["hello world"], trainer)
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
        vocab_size=tok.get_vocab_size(), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True,
        pad_token_id=tok.token_to_id(PAD), eos_token_id=tok.token_to_id(END), bos_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)
    return out


if __name__ == "__main__":
    print(build(sys.argv[1], sys.argv[2:]))
