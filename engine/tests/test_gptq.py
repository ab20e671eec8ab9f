"""GPTQ rounding into GGUF's q4_0, q5_0, Q4_K and Q6_K blocks (lm/gptq.py): blocks the gguf library
reads back, the layer's output error on correlated inputs well below rounding to nearest, nearest
rounding when the inputs' columns are independent, and a q4_0 export of a tiny Llama rounded by it."""

import numpy as np
import torch
from conftest import ROOT
from gguf import GGMLQuantizationType, GGUFReader
from gguf.quants import dequantize
from hone_engine.lm import LmShard, gptq
from hone_engine.lm.kquants import quantize_q4_0, quantize_q4_k, quantize_q5_0, quantize_q6_k
from hone_engine.recipes import lm_gguf
from hone_engine.testing import tiny_lm

TYPES = {"q4_0": GGMLQuantizationType.Q4_0, "q5_0": GGMLQuantizationType.Q5_0, "q4_k": GGMLQuantizationType.Q4_K, "q6_k": GGMLQuantizationType.Q6_K}
NEAREST = {"q4_0": quantize_q4_0, "q5_0": quantize_q5_0, "q4_k": quantize_q4_k, "q6_k": quantize_q6_k}


def _layer(rows=48, cols=512, n=2048, seed=0):
    """A weight and inputs whose columns are strongly correlated (as a layer's inputs are)."""
    g = np.random.default_rng(seed)
    w = (g.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    x = g.standard_normal((n, 16)) @ g.standard_normal((16, cols)) + 0.1 * g.standard_normal((n, cols))
    return w, x


def test_gptq_blocks_read_back_and_cut_the_output_error():
    """Every type's blocks read back by the gguf library; the layer's output moves far less than
    under llama.cpp's rounding to nearest (the weights themselves more)."""
    w, x = _layer()
    gram = torch.from_numpy(x.T @ x / len(x))
    out_err = lambda v: float((((v - w) @ x.T) ** 2).sum())  # noqa: E731
    for kind, qtype in TYPES.items():
        blocks = gptq.quantize(w, gram, kind)
        nearest = NEAREST[kind](w)
        assert blocks.shape == nearest.shape and blocks.dtype == np.uint8, kind
        back, plain = dequantize(blocks, qtype), dequantize(nearest, qtype)
        assert out_err(back) < 0.5 * out_err(plain), (kind, out_err(back), out_err(plain))
        assert ((back - w) ** 2).sum() > ((plain - w) ** 2).sum(), kind


def test_gptq_with_independent_columns_is_rounding_to_nearest():
    """With H diagonal no column's error has anywhere to go: the k-quants come out byte for byte as
    llama.cpp's reference rounding; q4_0 rounds every value to the nearest level of its block's
    stored (f16) scale (the reference divides by the scale before its f16 rounding)."""
    w, _ = _layer()
    diagonal = torch.diag(torch.rand(w.shape[1], dtype=torch.float64) + 0.5)
    for kind in ("q4_k", "q6_k"):
        assert np.array_equal(gptq.quantize(w, diagonal, kind), NEAREST[kind](w)), kind
    back = dequantize(gptq.quantize(w, diagonal, "q4_0"), TYPES["q4_0"]).reshape(-1, 32)
    blocks = w.reshape(-1, 32).astype(np.float64)
    d = (blocks[np.arange(len(blocks)), np.abs(blocks).argmax(1)] / -8).astype(np.float16).astype(np.float64)
    nearest = (np.clip(np.trunc(blocks / d[:, None] + 8.5), 0, 15) - 8) * d[:, None]
    assert np.array_equal(back, nearest.astype(np.float32))


def test_grams_share_inputs_and_reach_the_export(tmp_path):
    """x^T x of each 4-bit layer's input over the calibration tokens (up to the limit): q, k and v
    share one matrix, o its own; the q4_0 export writes GPTQ's blocks, not the nearest ones."""
    from transformers import AutoModelForCausalLM

    model_dir = tiny_lm.build(str(tmp_path / "model"), [str(ROOT / "examples" / "support" / "data.jsonl")], hidden=256, layers=2)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    seqs = [np.arange(5, 25, dtype=np.uint32), np.arange(30, 60, dtype=np.uint32), np.arange(7, 70, dtype=np.uint32)]
    offsets = np.cumsum([0] + [len(s) for s in seqs]).astype(np.int64)
    shard = LmShard(np.concatenate(seqs), offsets, None, [np.array([i]) for i in range(3)])
    names = lm_gguf._gptq_names(model, "q4_0")
    # q4_0 keeps attention values, the MLP's output projection and the embedding at q8_0.
    assert "model.layers.0.self_attn.q_proj.weight" in names and "model.layers.0.mlp.up_proj.weight" in names
    assert not any(n.endswith(("v_proj.weight", "down_proj.weight", "embed_tokens.weight")) for n in names)
    grams, seen = lm_gguf._grams(model, shard, 40, names)
    assert seen == 40  # the first sequence whole, then 20 of the second
    p = "model.layers.0."
    assert grams[p + "self_attn.q_proj.weight"] is grams[p + "self_attn.k_proj.weight"]
    assert grams[p + "mlp.gate_proj.weight"] is grams[p + "mlp.up_proj.weight"]
    assert grams[p + "self_attn.o_proj.weight"] is not grams[p + "self_attn.q_proj.weight"]
    h = grams[p + "self_attn.q_proj.weight"]
    assert h.shape == (256, 256) and torch.allclose(h, h.T) and torch.all(torch.diag(h) > 0)
    files = {}
    for name, g in (("nearest", None), ("gptq", grams)):
        files[name] = tmp_path / f"{name}.gguf"
        lm_gguf._write(model, model_dir, files[name], "q4_0", None, None, g)
    read = {n: {t.name: t for t in GGUFReader(str(f)).tensors} for n, f in files.items()}
    a, b = read["nearest"]["blk.0.attn_q.weight"], read["gptq"]["blk.0.attn_q.weight"]
    assert a.tensor_type.name == b.tensor_type.name == "Q4_0"
    assert not np.array_equal(np.asarray(a.data), np.asarray(b.data))
    v = read["gptq"]["blk.0.attn_v.weight"]
    assert v.tensor_type.name == "Q8_0" and np.array_equal(np.asarray(v.data), np.asarray(read["nearest"]["blk.0.attn_v.weight"].data))
    # Q4_K_M: the k-quant blocks too (rows of 256 here: Q4_K, and Q6_K for the wider layers).
    k_names = lm_gguf._gptq_names(model, "q4_k_m")
    assert "model.layers.0.mlp.down_proj.weight" in k_names and "model.layers.0.self_attn.v_proj.weight" in k_names
    k_grams, _ = lm_gguf._grams(model, shard, 40, k_names)
    for name, g in (("k-nearest", None), ("k-gptq", k_grams)):
        files[name] = tmp_path / f"{name}.gguf"
        lm_gguf._write(model, model_dir, files[name], "q4_k_m", None, None, g)
    read = {n: {t.name: t for t in GGUFReader(str(files[n])).tensors} for n in ("k-nearest", "k-gptq")}
    for t in ("blk.0.ffn_down.weight", "blk.1.attn_q.weight"):
        a, b = read["k-nearest"][t], read["k-gptq"][t]
        assert a.tensor_type.name == b.tensor_type.name and a.tensor_type.name in ("Q4_K", "Q6_K"), t
        assert not np.array_equal(np.asarray(a.data), np.asarray(b.data)), t
