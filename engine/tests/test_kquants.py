"""llama.cpp's k-quants as Hone writes them (lm/kquants.py): the gguf library reads the blocks back
close to the input, as accurate as llama.cpp's formats should be at their size, and a Q4_K_M
export of a tiny Llama has llama.cpp's type per tensor and loads back through transformers; with an
importance matrix, every type keeps the columns that carry large activations more exactly."""

import numpy as np
import pytest
import torch
from conftest import ROOT
from gguf import GGMLQuantizationType, GGUFReader
from gguf.quants import dequantize, quantize
from hone_engine.lm.kquants import q4_k_m_type, quantize_q4_0, quantize_q4_k, quantize_q5_0, quantize_q6_k
from hone_engine.recipes import lm_gguf
from hone_engine.testing import tiny_lm


def _weights(rows=64, cols=1536, seed=0):
    x = (np.random.default_rng(seed).standard_normal((rows, cols)) * 0.05).astype(np.float32)
    x[3, 100] = 1.0  # an outlier, as trained weights have
    x[5, :256] = 0.0  # an all-zero block
    return x


def _rel_rmse(x, q, qtype):
    d = dequantize(q, qtype)
    return float(np.sqrt(((d - x) ** 2).mean()) / x.std())


def test_k_quant_blocks_read_back_by_the_library_at_their_size_and_accuracy():
    x = _weights()
    q4k, q6k = quantize_q4_k(x), quantize_q6_k(x)
    assert q4k.shape == (64, 1536 // 256 * 144) and q6k.shape == (64, 1536 // 256 * 210)  # 4.5 and 6.5625 bits per weight
    e4k, e6k = _rel_rmse(x, q4k, GGMLQuantizationType.Q4_K), _rel_rmse(x, q6k, GGMLQuantizationType.Q6_K)
    # Q4_K (4.5 bits) beats the library's Q4_0 (4.5) and Q4_1 (5.0); Q6_K (6.56) beats Q5_0 (5.5), not Q8_0 (8.5).
    lib = {
        t: _rel_rmse(x, quantize(x, t), t) for t in (GGMLQuantizationType.Q4_0, GGMLQuantizationType.Q4_1, GGMLQuantizationType.Q5_0, GGMLQuantizationType.Q8_0)
    }
    assert e4k < lib[GGMLQuantizationType.Q4_1] < lib[GGMLQuantizationType.Q4_0]
    assert lib[GGMLQuantizationType.Q8_0] < e6k < lib[GGMLQuantizationType.Q5_0]
    assert e4k == pytest.approx(0.0718, abs=0.003) and e6k == pytest.approx(0.0179, abs=0.002)
    for q, t in ((q4k, GGMLQuantizationType.Q4_K), (q6k, GGMLQuantizationType.Q6_K)):
        d = dequantize(q, t)
        assert np.all(d[5, :256] == 0.0), "a zero block stays zero"
        assert abs(d[3, 100] - 1.0) < 0.02, "the outlier survives"


def test_q4_k_m_picks_llama_cpp_types_and_its_fallbacks():
    # SmolLM2-135M: rows of 576 (not a multiple of 256) fall back; the MLP's down projection (1536) does not.
    n = 30
    assert q4_k_m_type("token_embd.weight", 576, None, n, tied=True) == "q8_0"  # the output layer, tied
    assert q4_k_m_type("token_embd.weight", 2048, None, n, tied=False) == "q4_k"
    assert q4_k_m_type("output.weight", 2048, None, n, tied=False) == "q6_k"
    assert q4_k_m_type("blk.5.attn_q.weight", 576, 5, n, tied=True) == "q5_0"
    more = [i for i in range(n) if q4_k_m_type(f"blk.{i}.ffn_down.weight", 1536, i, n, tied=True) == "q6_k"]
    assert more == [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]  # first and last eighth, every third between
    assert q4_k_m_type("blk.4.ffn_down.weight", 1536, 4, n, tied=True) == "q4_k"
    assert q4_k_m_type("blk.0.attn_v.weight", 576, 0, n, tied=True) == "q8_0"
    assert q4_k_m_type("blk.4.attn_v.weight", 576, 4, n, tied=True) == "q5_0"
    assert q4_k_m_type("blk.0.attn_k.weight", 48, 0, n, tied=True) == "f16"


def test_q4_k_m_export_of_a_tiny_llama_loads_back_close_to_the_model(tmp_path):
    model_dir = tiny_lm.build(str(tmp_path / "model"), [str(ROOT / "examples" / "support" / "data.jsonl")], hidden=256, layers=2)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    out = tmp_path / "model.gguf"
    lm_gguf._write(model, model_dir, out, "q4_k_m", None)
    types = {t.name: t.tensor_type.name for t in GGUFReader(str(out)).tensors}
    assert types["token_embd.weight"] == "Q6_K"  # tied: the output layer's type
    # Two layers: only the last is in the last eighth (llama.cpp's use_more_bits).
    assert types["blk.1.attn_v.weight"] == "Q6_K" and types["blk.1.ffn_down.weight"] == "Q6_K"
    assert types["blk.0.attn_v.weight"] == "Q4_K" and types["blk.0.ffn_down.weight"] == "Q4_K"
    assert types["blk.0.attn_q.weight"] == "Q4_K" and types["blk.1.ffn_up.weight"] == "Q4_K"
    assert types["blk.0.attn_norm.weight"] == "F32"
    back = AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=out.name, dtype=torch.float32).eval()
    # Through transformers' GGUF loader (the library's dequantizers, llama.cpp's rotary layout
    # undone): every weight within its type's error. A random model this small is too sensitive
    # to 4 bits for its logits to say much (q4_0 moves them as far).
    mine, theirs = model.state_dict(), back.state_dict()
    for name, bound in [
        ("model.layers.0.self_attn.q_proj.weight", 0.09),  # Q4_K
        ("model.layers.1.mlp.up_proj.weight", 0.09),  # Q4_K
        ("model.layers.1.self_attn.v_proj.weight", 0.03),  # Q6_K
        ("model.embed_tokens.weight", 0.03),  # Q6_K
        ("model.layers.0.input_layernorm.weight", 1e-7),  # F32
    ]:
        err = float((theirs[name] - mine[name]).pow(2).mean().sqrt() / mine[name].std().clamp_min(1e-12))
        assert err < bound, f"{name}: relative error {err}"


def test_an_importance_matrix_lowers_the_error_that_reaches_the_layers_outputs():
    """Without an imatrix, q4_0 and q5_0 are byte for byte the library's (reference) blocks; with
    one, every 4-6-bit type's error weighted by it (what reaches a layer's output, when the
    imatrix is its inputs' mean square) is lower than unweighted quantization's."""
    x = _weights(cols=512)
    imatrix = np.random.default_rng(1).lognormal(0.0, 1.5, 512)  # a few columns carry most of the signal
    cases = [
        (quantize_q4_0, GGMLQuantizationType.Q4_0),
        (quantize_q5_0, GGMLQuantizationType.Q5_0),
        (quantize_q4_k, GGMLQuantizationType.Q4_K),
        (quantize_q6_k, GGMLQuantizationType.Q6_K),
    ]
    for write, t in cases:
        if t in (GGMLQuantizationType.Q4_0, GGMLQuantizationType.Q5_0):
            assert np.array_equal(write(x), quantize(x, t)), t.name
        plain, weighted = dequantize(write(x), t), dequantize(write(x, imatrix), t)
        error = lambda d: float((imatrix[None, :] * (d - x) ** 2).sum())  # noqa: E731
        assert error(weighted) < 0.95 * error(plain), (t.name, error(weighted), error(plain))
        assert abs(weighted[3, 100] - 1.0) < 0.1, "the outlier survives"


def test_imatrix_from_calibration_sequences_reaches_the_export(tmp_path):
    """The mean squared input of every linear layer, per column, over the calibration tokens (up to
    the limit); a q4_0 export with it writes Q4_0 blocks that differ from the unweighted ones."""
    from hone_engine.lm import LmShard
    from transformers import AutoModelForCausalLM

    model_dir = tiny_lm.build(str(tmp_path / "model"), [str(ROOT / "examples" / "support" / "data.jsonl")], hidden=256, layers=2)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    seqs = [np.arange(5, 25, dtype=np.uint32), np.arange(30, 60, dtype=np.uint32), np.arange(7, 70, dtype=np.uint32)]
    offsets = np.cumsum([0] + [len(s) for s in seqs]).astype(np.int64)
    shard = LmShard(np.concatenate(seqs), offsets, None, [np.array([i]) for i in range(3)])
    imatrix, seen = lm_gguf._imatrix(model, shard, 40)
    assert seen == 40  # the first sequence whole, then 20 of the second
    q = imatrix["model.layers.0.self_attn.q_proj.weight"]
    assert q.shape == (256,) and np.all(q > 0)
    assert imatrix["model.layers.1.mlp.down_proj.weight"].shape == (model.config.intermediate_size,)
    assert "lm_head.weight" in imatrix  # tied: not written, but measured like every linear layer
    files = {}
    for name, imx in (("plain", None), ("imatrix", imatrix)):
        files[name] = tmp_path / f"{name}.gguf"
        lm_gguf._write(model, model_dir, files[name], "q4_0", None, imx)
    read = {n: {t.name: t for t in GGUFReader(str(f)).tensors} for n, f in files.items()}
    plain, weighted = read["plain"]["blk.0.attn_q.weight"], read["imatrix"]["blk.0.attn_q.weight"]
    assert plain.tensor_type.name == weighted.tensor_type.name == "Q4_0"
    assert not np.array_equal(np.asarray(plain.data), np.asarray(weighted.data))
