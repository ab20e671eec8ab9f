"""A generative run's model as one GGUF file (llama.cpp, Ollama, LM Studio): the adapter merged
first, tensors named and laid out as llama.cpp reads them (the `gguf` library's own name map),
weights in f16, q8_0 or q4_0 (the library's quantizers; a q4_0 file keeps the embedding, the
output layer, attention values and the MLP's output projection at q8_0) or q4_k_m (llama.cpp's
recipe with its k-quants, written by lm/kquants.py), the tokenizer and the chat template in
the metadata. Given calibration sequences (the orchestrator sends them for 4-bit types on
request), the quantizers weight their error by an importance matrix measured on them, as
llama-quantize --imatrix. Then the file is read back (transformers' GGUF loader) and its next-token
log-probabilities on the given prompts are compared with the PyTorch model's."""

import os
import time
from pathlib import Path

import numpy as np
import torch

from .. import lm
from ..lm import kquants
from ..protocol import EngineError

# Weights of each file type; 1-D tensors (norms) stay f32 in every type, as llama.cpp keeps them.
FILE_TYPES = {"f16": "MOSTLY_F16", "q8_0": "MOSTLY_Q8_0", "q4_0": "MOSTLY_Q4_0", "q4_k_m": "MOSTLY_Q4_K_M"}
# In a 4-bit file, the tensors 4 bits hurt most keep 8: the values of attention and the MLP's
# output projection (llama.cpp's *_M recipes keep these two wider for the same reason).
WIDER_IN_4BIT = ("attn_v.weight", "ffn_down.weight")
# The k-quants, which the gguf library reads but does not write.
# Written here (lm/kquants.py): the k-quants, and the 32-value 4/5-bit types whenever an importance
# matrix weights their error (the library's are the unweighted reference quantizers).
K_WRITERS = {"q4_k": kquants.quantize_q4_k, "q6_k": kquants.quantize_q6_k}
WEIGHTED_WRITERS = {"q4_0": kquants.quantize_q4_0, "q5_0": kquants.quantize_q5_0}


def _permute(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """Hugging Face's rotary layout (halves) to llama.cpp's (interleaved pairs), per head."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _vocab(model_dir: Path, n_vocab: int):
    """Tokens by id with their llama.cpp types, from the fast tokenizer's file."""
    import gguf
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    vocab = tok.get_vocab(with_added_tokens=True)
    added = {t.content: t for t in tok.get_added_tokens_decoder().values()}
    by_id = {i: t for t, i in vocab.items()}
    tokens, types = [], []
    for i in range(n_vocab):
        t = by_id.get(i)
        if t is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif t in added:
            tokens.append(t)
            types.append(gguf.TokenType.CONTROL if added[t].special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(t)
            types.append(gguf.TokenType.NORMAL)
    return tokens, types


@torch.no_grad()
def _imatrix(model, shard, max_tokens: int) -> tuple[dict, int]:
    """llama.cpp's importance matrix: for each linear layer (by its weight's name), the mean square
    of its input per column, over the calibration sequences (each alone, in order) up to
    max_tokens tokens (also returned: the tokens read). Only the columns' relative sizes matter."""
    sums, counts, hooks = {}, {}, []

    def hook(key):
        def record(_module, inputs):
            x = inputs[0].reshape(-1, inputs[0].shape[-1]).double()
            sums[key] = sums.get(key, 0) + (x * x).sum(0)
            counts[key] = counts.get(key, 0) + x.shape[0]

        return record

    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            hooks.append(module.register_forward_pre_hook(hook(f"{name}.weight")))
    seen = 0
    try:
        for i in range(shard.count):
            ids = shard.tokens[shard.offsets[i] : shard.offsets[i + 1]][: max_tokens - seen].astype(np.int64)
            if len(ids) == 0:
                break
            model(input_ids=torch.from_numpy(ids)[None])
            seen += len(ids)
    finally:
        for h in hooks:
            h.remove()
    return {k: (sums[k] / counts[k]).numpy() for k in sums}, seen


def _write(model, model_dir: Path, out: Path, ftype: str, chat_template: "str | None", imatrix: dict | None = None) -> None:
    import gguf
    from gguf.quants import quantize

    cfg = model.config
    if cfg.model_type not in ("llama", "mistral"):
        raise EngineError("model_load", f"GGUF export writes llama-architecture models; this one is {cfg.model_type}")
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_head
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_name(model_dir.name)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_rope_dimension_count(head_dim)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    rope_theta = getattr(cfg, "rope_theta", None) or (getattr(cfg, "rope_parameters", None) or {}).get("rope_theta", 10000.0)
    w.add_rope_freq_base(float(rope_theta))
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type(getattr(gguf.LlamaFileType, FILE_TYPES[ftype]))
    tokens, types = _vocab(model_dir, cfg.vocab_size)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=len(tokens))
    if chat_template:
        special.chat_template = chat_template
    special.add_to_gguf(w)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.num_hidden_layers)
    tied = getattr(cfg, "tie_word_embeddings", False)
    for name, tensor in model.state_dict().items():
        if tied and name == "lm_head.weight":
            continue  # llama.cpp reads token_embd as the output layer when there is none
        if "rotary_emb" in name:
            continue
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise EngineError("model_load", f"GGUF export: no llama.cpp name for tensor {name}")
        t = tensor.detach().float()
        if name.endswith("q_proj.weight"):
            t = _permute(t, n_head)
        elif name.endswith("k_proj.weight"):
            t = _permute(t, n_kv)
        data = t.numpy()
        if data.ndim == 1:
            w.add_tensor(new, data.astype(np.float32))
            continue
        kind = ftype
        if kind == "q4_k_m":
            # llama.cpp's own recipe, tensor by tensor (lm/kquants.py), fallbacks included.
            layer = int(new.split(".")[1]) if new.startswith("blk.") else None
            kind = kquants.q4_k_m_type(new, data.shape[-1], layer, cfg.num_hidden_layers, tied)
        # The embedding and output layers keep 8 bits in a 4-bit file (llama.cpp keeps them wider
        # too); a row whose length is not a multiple of the 32-value block stays f16.
        if kind == "q4_0" and (new.startswith(("token_embd", "output")) or new.endswith(WIDER_IN_4BIT)):
            kind = "q8_0"
        if kind != "f16" and data.shape[-1] % 32 != 0:
            kind = "f16"
        importance = (imatrix or {}).get(name)
        if kind == "f16":
            w.add_tensor(new, data.astype(np.float16))
        elif kind in K_WRITERS or (kind in WEIGHTED_WRITERS and importance is not None):
            write = K_WRITERS.get(kind) or WEIGHTED_WRITERS[kind]
            w.add_tensor(new, write(data, importance), raw_dtype=getattr(gguf.GGMLQuantizationType, kind.upper()))
        else:
            qtype = getattr(gguf.GGMLQuantizationType, kind.upper())
            w.add_tensor(new, quantize(data, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@torch.no_grad()
def _next_token_logprobs(model, prompts) -> torch.Tensor:
    rows = []
    for ids in prompts:
        out = model(input_ids=torch.tensor([ids]))
        rows.append(torch.log_softmax(out.logits[0, -1].float(), dim=-1))
    return torch.stack(rows)


def run(job: dict, channel) -> None:
    from transformers import AutoModelForCausalLM

    t0 = time.time()
    torch.set_num_threads(max(1, job["threads"]))
    model = lm.load({**job["model"], "dtype": "fp32"}, None, trainable=False)
    model = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    model.eval()
    final = Path(job["output"])
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    imatrix, calibrated = None, 0
    if job["calibration"] is not None:
        channel.emit("log", level="info", message=f"importance matrix from up to {job['calibration']['max_tokens']} tokens of the training data")
        imatrix, calibrated = _imatrix(model, lm.load_shard(job["calibration"]["shard"], pairs=False), job["calibration"]["max_tokens"])
    _write(model, Path(job["tokenizer_dir"]), tmp, job["type"], job["chat_template"], imatrix)
    # Read back as a user's tool would, then compare the next token's distribution.
    try:
        back = AutoModelForCausalLM.from_pretrained(str(tmp.parent), gguf_file=tmp.name, dtype=torch.float32).eval()
    except (OSError, ValueError, ImportError) as e:
        tmp.unlink(missing_ok=True)
        raise EngineError("internal", f"the GGUF file written does not load back: {e}") from None
    ref, got = _next_token_logprobs(model, job["prompts"]), _next_token_logprobs(back, job["prompts"])
    os.replace(tmp, final)
    channel.emit(
        "gguf_written",
        path=str(final),
        bytes=final.stat().st_size,
        max_abs_logprob_diff=float((ref - got).abs().max()),
        top1_agreement=float((ref.argmax(-1) == got.argmax(-1)).float().mean()),
        kl=float(torch.nn.functional.kl_div(got, ref, log_target=True, reduction="batchmean")),
        calibration_tokens=calibrated,
    )
    channel.emit("done", step=0, reason="completed", runtime_s=time.time() - t0)
