"""A generative run's model as one GGUF file (llama.cpp, Ollama, LM Studio): the adapter merged
first, tensors named and laid out as llama.cpp reads them (the `gguf` library's own name map),
weights in f16, q8_0 or q4_0 (the library's quantizers; a q4_0 file keeps the embedding, the
output layer, attention values and the MLP's output projection at q8_0) or q4_k_m (llama.cpp's
recipe with its k-quants, written by lm/kquants.py), the tokenizer and the chat template in
the metadata. Given calibration sequences (the orchestrator sends the run's training tokens for
4-bit types), the 4- to 6-bit blocks are rounded by GPTQ (lm/gptq.py: each layer's output
error on those inputs, not each weight's, made small), or, on request, every quantizer weights its
error by an importance matrix measured on them, as llama-quantize --imatrix. Then the file is read back (transformers' GGUF loader) and its next-token
log-probabilities on the given prompts are compared with the PyTorch model's."""

import os
import time
from pathlib import Path

import numpy as np
import torch

from .. import lm
from ..lm import gptq, kquants
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


def _feed(model, shard, max_tokens: int, progress=None) -> int:
    """The calibration sequences through the model, each alone, in order, up to max_tokens tokens
    (returned: the tokens read). progress(tokens read so far) after each sequence."""
    seen = 0
    for i in range(shard.count):
        ids = shard.tokens[shard.offsets[i] : shard.offsets[i + 1]][: max_tokens - seen].astype(np.int64)
        if len(ids) == 0:
            break
        model(input_ids=torch.from_numpy(ids)[None])
        seen += len(ids)
        if progress:
            progress(seen)
    return seen


def _reporter(channel, total: int, what: str):
    """progress(tokens) for _feed: a log line at most every 10 s with throughput and time left
    (a big model's calibration pass on the CPU takes minutes)."""
    t0 = last = time.time()

    def report(seen: int) -> None:
        nonlocal last
        now = time.time()
        if now - last >= 10 and seen < total:
            last = now
            rate = seen / (now - t0)
            channel.emit("log", level="info", message=f"{what}: {seen}/{total} tokens, {rate:.0f} tokens/s, about {(total - seen) / rate:.0f} s left")

    return report


@torch.no_grad()
def _imatrix(model, shard, max_tokens: int, progress=None) -> tuple[dict, int]:
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
    try:
        seen = _feed(model, shard, max_tokens, progress)
    finally:
        for h in hooks:
            h.remove()
    return {k: (sums[k] / counts[k]).numpy() for k in sums}, seen


@torch.no_grad()
def _grams(model, shard, max_tokens: int, names: set, progress=None) -> tuple[dict, int]:
    """GPTQ's H for each linear layer whose weight is named in `names`: the mean of x^T x over its
    inputs on the calibration sequences (as _imatrix reads them). Layers fed the same tensor (q, k
    and v; gate and up) share one matrix, so a model's worth costs one (width x width) a layer input."""
    sums, counts, hooks, owner, fed = {}, {}, [], {}, []

    def hook(key):
        def record(_module, inputs):
            x = inputs[0]
            # `is`, not the address: a freed input's memory can hold the next layer's input
            same = next((k for t, k in fed if t is x), None)
            if same is not None:
                owner[key] = same
                return
            fed.append((x, key))
            owner[key] = key
            flat = x.reshape(-1, x.shape[-1])
            sums[key] = sums.get(key, 0) + (flat.T @ flat).double()
            counts[key] = counts.get(key, 0) + flat.shape[0]

        return record

    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and f"{name}.weight" in names:
            hooks.append(module.register_forward_pre_hook(hook(f"{name}.weight")))

    def after_each(seen: int) -> None:
        fed.clear()  # one sequence's inputs at a time
        if progress:
            progress(seen)

    try:
        seen = _feed(model, shard, max_tokens, after_each)
    finally:
        for h in hooks:
            h.remove()
    means = {k: sums[k] / counts[k] for k in sums}
    return {k: means[owner[k]] for k in owner}, seen


def _kind(new: str, shape: tuple, ftype: str, n_layer: int, tied: bool) -> str:
    """The block type a 2-D tensor (by its llama.cpp name) takes in a file of type `ftype`."""
    kind = ftype
    if kind == "q4_k_m":
        # llama.cpp's own recipe, tensor by tensor (lm/kquants.py), fallbacks included.
        layer = int(new.split(".")[1]) if new.startswith("blk.") else None
        kind = kquants.q4_k_m_type(new, shape[-1], layer, n_layer, tied)
    # The embedding and output layers keep 8 bits in a 4-bit file (llama.cpp keeps them wider
    # too); a row whose length is not a multiple of the 32-value block stays f16.
    if kind == "q4_0" and (new.startswith(("token_embd", "output")) or new.endswith(WIDER_IN_4BIT)):
        kind = "q8_0"
    if kind != "f16" and shape[-1] % 32 != 0:
        kind = "f16"
    return kind


def _gptq_names(model, ftype: str) -> set:
    """The weights a file of type `ftype` writes in a type GPTQ rounds (4 to 6 bits; q8_0 loses
    too little to need it)."""
    import gguf

    cfg = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.num_hidden_layers)
    tied = getattr(cfg, "tie_word_embeddings", False)
    out = set()
    for name, tensor in model.state_dict().items():
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if tensor.dim() == 2 and new is not None and _kind(new, tuple(tensor.shape), ftype, cfg.num_hidden_layers, tied) in gptq.TYPES:
            out.add(name)
    return out


def _write(
    model, model_dir: Path, out: Path, ftype: str, chat_template: "str | None", imatrix: dict | None = None, grams: dict | None = None, log=None
) -> None:
    """The GGUF file; log(message) at most every 10 s while tensors are quantized (GPTQ on a
    large model takes minutes on the CPU)."""
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
    tensors = model.state_dict()
    t0 = last = time.time()
    for done, (name, tensor) in enumerate(tensors.items()):
        if log and done and time.time() - last >= 10:
            last = time.time()
            log(f"quantizing tensors: {done}/{len(tensors)}, about {(last - t0) / done * (len(tensors) - done):.0f} s left")
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
        kind = _kind(new, data.shape, ftype, cfg.num_hidden_layers, tied)
        importance = (imatrix or {}).get(name)
        gram = (grams or {}).get(name)
        if kind == "f16":
            w.add_tensor(new, data.astype(np.float16))
        elif kind in gptq.TYPES and gram is not None:
            w.add_tensor(new, gptq.quantize(data, gram, kind), raw_dtype=getattr(gguf.GGMLQuantizationType, kind.upper()))
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
    imatrix, grams, calibrated = None, None, 0
    calibration = job["calibration"]
    if calibration is not None:
        shard = lm.load_shard(calibration["shard"], pairs=False)
        total = min(calibration["max_tokens"], len(shard.tokens))
        report = _reporter(channel, total, calibration["method"])
        if calibration["method"] == "gptq":
            channel.emit(
                "log",
                level="info",
                message=f"GPTQ: the input statistics of each layer it rounds, from up to {calibration['max_tokens']} tokens of the training data",
            )
            grams, calibrated = _grams(model, shard, calibration["max_tokens"], _gptq_names(model, job["type"]), report)
        else:
            channel.emit("log", level="info", message=f"importance matrix from up to {calibration['max_tokens']} tokens of the training data")
            imatrix, calibrated = _imatrix(model, shard, calibration["max_tokens"], report)
    _write(model, Path(job["tokenizer_dir"]), tmp, job["type"], job["chat_template"], imatrix, grams, lambda m: channel.emit("log", level="info", message=m))
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
