"""The 4-bit quantizer of GGUF exports (hone_engine/lm/quant.py): plain Q4_0 bytes that the gguf
library reads back as we do, no more error than the library's own quantizer on the error it
minimises, importance moving the error away from the columns that matter, and the importance
measured as the mean square of each linear layer's input."""

import gguf
import numpy as np
import torch
from conftest import EXAMPLE
from gguf.quants import dequantize, quantize
from hone_engine import lm
from hone_engine.lm.quant import dequantize_q4_0, input_importance, q4_0
from hone_engine.testing.tiny_lm import build


def weighted_error(x, y, w):
    return float((w * (x - y) ** 2).sum())


def test_plain_q4_0_bytes_the_library_reads_back_with_no_more_error_than_its_own():
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((48, 256)) * rng.uniform(0.01, 0.2, size=(48, 1))).astype(np.float32)
    data[3, 17] = 2.5  # an outlier: the library spends the whole block's range on it
    ours = q4_0(data, None)
    lib = quantize(data, gguf.GGMLQuantizationType.Q4_0)
    assert ours.shape == lib.shape and ours.dtype == np.uint8
    back = dequantize(ours, gguf.GGMLQuantizationType.Q4_0)
    np.testing.assert_array_equal(back, dequantize_q4_0(ours, 256))
    w = data * data  # what the search minimises without an importance matrix
    lib_back = dequantize(lib, gguf.GGMLQuantizationType.Q4_0)
    assert weighted_error(data, back, w) < 0.95 * weighted_error(data, lib_back, w)
    assert float(((data - back) ** 2).mean()) < float(((data - lib_back) ** 2).mean())


def test_important_columns_are_rounded_more_finely():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((64, 128)).astype(np.float32)
    importance = np.ones(128, dtype=np.float32)
    importance[::32] = 1000.0  # the first column of every block carries the large inputs
    plain = dequantize_q4_0(q4_0(data, np.ones(128, dtype=np.float32)), 128)
    weighted = dequantize_q4_0(q4_0(data, importance), 128)
    col = slice(0, None, 32)
    assert ((data - weighted)[:, col] ** 2).mean() < 0.5 * ((data - plain)[:, col] ** 2).mean()


def test_input_importance_is_the_mean_square_of_each_linear_input(tmp_path):
    path = build(str(tmp_path / "tiny-lm"), [str(EXAMPLE)])
    model = lm.load({"path": str(path), "adapter": None, "architecture": "causal", "head": "lm", "dtype": "fp32", "pad_token_id": 0}, None, trainable=False)
    model.eval()
    seqs = [np.array([5, 9, 11, 3, 7], dtype=np.uint32), np.array([4, 8], dtype=np.uint32)]
    imp = input_importance(model, seqs)
    linears = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert set(imp) == linears
    # The output layer's input is the final hidden state (after the last norm), every token once.
    with torch.no_grad():
        last = torch.cat([model(input_ids=torch.tensor(s, dtype=torch.long)[None], output_hidden_states=True).hidden_states[-1][0] for s in seqs])
    np.testing.assert_allclose(imp["lm_head"], (last**2).mean(0).numpy(), rtol=1e-5, atol=1e-7)
