"""llama.cpp's Q4_K and Q6_K ("k-quants") writers, and its Q4_K_M choice of type per tensor.

The `gguf` library reads these types but only writes the 32-value ones (q4_0, q5_0, q8_0...), so
the two block formats are written here, vectorised over all blocks, following llama.cpp's
reference quantizers (ggml-quants.c, quantize_row_q4_K_ref / quantize_row_q6_K_ref) and its
byte layout, which the library's dequantizer checks in the tests:

  Q4_K  256 values: d, dmin (f16), 8 sub-blocks of 32 each with a 6-bit scale and a 6-bit min
        (12 bytes), 4-bit values (128 bytes): 144 bytes, 4.5 bits per weight.
        x ~ d*scale_j*q - dmin*min_j, the scale and min of each sub-block found by a search
        over 21 candidate steps that minimises the squared error weighted by |x| + rms(x).
  Q6_K  256 values: 16 sub-blocks of 16 with an int8 scale, 6-bit values (low 4 bits 128 bytes,
        high 2 bits 64 bytes), d (f16): 210 bytes, 6.5625 bits per weight.

The arithmetic is float64 here and float32 in llama.cpp, so a value on a rounding boundary may
land on the other side: the file is valid and as accurate, not byte-identical to llama-quantize's.

With an importance matrix (`imatrix`: per input column of a matrix, the mean square of the
activations that meet it, measured on calibration text), the quantizers follow llama.cpp's
`*_impl` paths instead: every value's error is weighted by imatrix[column] * sqrt(sigma2 + x^2)
(sigma2: the row's mean square), so columns that carry large activations are kept more exactly.
That includes q4_0 and q5_0 (written here too: the library's are the unweighted reference ones):
their scale is searched (make_qx_quants) instead of taken from the block's largest value.
"""

import numpy as np

QK_K = 256
GROUP_MAX_EPS = 1e-15


def _qkx2(x: np.ndarray, w: np.ndarray, nmax: int, rmin: float, rdelta: float, nstep: int):
    """make_qkx2_quants over rows of x (one sub-block each): a scale and a min per row with
    x ~ scale*L - min, L in [0, nmax], chosen from nstep+1 candidate steps by weighted error."""
    lo = np.minimum(x.min(1), 0.0)
    hi = x.max(1)
    flat = hi == lo
    sum_w, sum_x = w.sum(1), (w * x).sum(1)

    def levels(iscale, lo):
        return np.clip(np.rint(iscale[:, None] * (x - lo[:, None])), 0, nmax)

    span = np.where(flat, 1.0, hi - lo)
    scale = span / nmax
    L = levels(nmax / span, lo)
    best = (w * (scale[:, None] * L + lo[:, None] - x) ** 2).sum(1)
    for step in range(nstep + 1):
        span = np.where(flat, 1.0, hi - lo)  # lo moves when a candidate wins, as in llama.cpp
        La = levels((rmin + rdelta * step + nmax) / span, lo)
        sl, sl2, sxl = (w * La).sum(1), (w * La * La).sum(1), (w * La * x).sum(1)
        D = sum_w * sl2 - sl * sl
        ok = D > 0
        Dsafe = np.where(ok, D, 1.0)
        this_scale = (sum_w * sxl - sum_x * sl) / Dsafe
        this_min = (sl2 * sum_x - sl * sxl) / Dsafe
        positive = this_min > 0
        this_min = np.where(positive, 0.0, this_min)
        this_scale = np.where(positive, sxl / np.where(sl2 > 0, sl2, 1.0), this_scale)
        err = (w * (this_scale[:, None] * La + this_min[:, None] - x) ** 2).sum(1)
        better = ok & (err < best)
        L = np.where(better[:, None], La, L)
        best = np.where(better, err, best)
        scale = np.where(better, this_scale, scale)
        lo = np.where(better, this_min, lo)
    return np.where(flat, 0.0, scale), -lo, np.where(flat[:, None], 0, L)


def importance(data: np.ndarray, imatrix: np.ndarray | None) -> np.ndarray | None:
    """llama.cpp's weight of each value under an importance matrix: imatrix[column] *
    sqrt(sigma2 + x^2), sigma2 the row's mean square (float64, the shape of data); None without."""
    if imatrix is None:
        return None
    x = data.astype(np.float64)
    sigma2 = (x * x).mean(1, keepdims=True)
    return imatrix.astype(np.float64)[None, :] * np.sqrt(sigma2 + x * x)


def quantize_q4_k(data: np.ndarray, imatrix: np.ndarray | None = None) -> np.ndarray:
    """Rows of a 2-D float array (row length a multiple of 256) as Q4_K blocks: uint8 (rows, bytes).
    With an imatrix, the sub-blocks' scales and mins are chosen by its weights (llama.cpp's
    quantize_row_q4_K_impl weighting; the candidate steps of the reference search)."""
    rows, cols = data.shape
    x = data.astype(np.float64).reshape(-1, 8, 32)
    weights = importance(data, imatrix)
    d, dmin, ls, lm, L = q4_k_grid(x, None if weights is None else weights.reshape(-1, 8, 32))
    # The values again, against the scales as stored (6-bit, times the f16 super-scale).
    sub = d.astype(np.float64)[:, None] * ls
    dm = dmin.astype(np.float64)[:, None] * lm
    q = np.clip(np.rint((x + dm[..., None]) / np.where(sub > 0, sub, 1.0)[..., None]), 0, 15)
    L = np.where((sub > 0)[..., None], q, L)
    return pack_q4_k(d, dmin, ls, lm, L).reshape(rows, cols // QK_K * 144)


def q4_k_grid(x: np.ndarray, weights: np.ndarray | None = None):
    """Q4_K's grid for super-blocks x (B, 8, 32): the f16 scale and min of each super-block (d,
    dmin), each sub-block's 6-bit scale and min (ls, lm: uint8 (B, 8)), so that a value is
    d*ls*q - dmin*lm with q in [0, 15]; and the search's own levels (B, 8, 32), for sub-blocks whose
    stored scale is 0."""
    B = x.shape[0]
    av = np.sqrt((x * x).mean(2, keepdims=True))
    weights = (av + np.abs(x)) if weights is None else weights
    scale, mins, L = _qkx2(x.reshape(-1, 32), weights.reshape(-1, 32), 15, -1.0, 0.1, 20)
    scale, mins, L = scale.reshape(B, 8), mins.reshape(B, 8), L.reshape(B, 8, 32)
    max_scale, max_min = scale.max(1), mins.max(1)
    inv_scale = np.where(max_scale > 0, 63.0 / np.where(max_scale > 0, max_scale, 1.0), 0.0)
    inv_min = np.where(max_min > 0, 63.0 / np.where(max_min > 0, max_min, 1.0), 0.0)
    ls = np.clip(np.rint(inv_scale[:, None] * scale), 0, 63).astype(np.uint8)
    lm = np.clip(np.rint(inv_min[:, None] * mins), 0, 63).astype(np.uint8)
    return (max_scale / 63.0).astype(np.float16), (max_min / 63.0).astype(np.float16), ls, lm, L


def pack_q4_k(d: np.ndarray, dmin: np.ndarray, ls: np.ndarray, lm: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Q4_K blocks (B, 144) from the grid (q4_k_grid) and the levels L (B, 8, 32) in [0, 15]."""
    B = L.shape[0]
    # 6-bit scales and mins, 12 bytes: sub-blocks 0-3 in the low 6 bits of bytes 0-7; 4-7 split
    # into low nibbles (bytes 8-11) and their top 2 bits in the top bits of bytes 0-7.
    sc = np.zeros((B, 12), dtype=np.uint8)
    sc[:, 0:4] = ls[:, 0:4] | ((ls[:, 4:8] >> 4) << 6)
    sc[:, 4:8] = lm[:, 0:4] | ((lm[:, 4:8] >> 4) << 6)
    sc[:, 8:12] = (ls[:, 4:8] & 0xF) | ((lm[:, 4:8] & 0xF) << 4)
    L = L.astype(np.uint8).reshape(B, 4, 2, 32)
    qs = (L[:, :, 0, :] | (L[:, :, 1, :] << 4)).reshape(B, 128)
    return np.concatenate([d.astype(np.float16).view(np.uint8).reshape(B, 2), dmin.astype(np.float16).view(np.uint8).reshape(B, 2), sc, qs], axis=1)


def _qx(x: np.ndarray, nmax: int, w: np.ndarray | None = None):
    """make_qx_quants over rows of x: a signed scale per row with x ~ scale*(L - nmax), L in
    [0, 2*nmax), the best of 19 candidate steps by the error weighted by w (default x^2)."""
    at = np.abs(x).argmax(1)
    peak = x[np.arange(len(x)), at]
    small = np.abs(peak) < GROUP_MAX_EPS
    peak = np.where(small, 1.0, peak)
    w = x * x if w is None else w

    def levels(iscale):
        return np.clip(np.rint(iscale[:, None] * x), -nmax, nmax - 1)

    l = levels(-nmax / peak)
    sumlx, suml2 = (w * x * l).sum(1), (w * l * l).sum(1)
    scale = np.where(suml2 > 0, sumlx / np.where(suml2 > 0, suml2, 1.0), 0.0)
    L = l + nmax
    best = scale * sumlx
    for step in range(-9, 10):
        if step == 0:
            continue
        l = levels(-(nmax + 0.1 * step) / peak)
        sumlx, suml2 = (w * x * l).sum(1), (w * l * l).sum(1)
        better = (suml2 > 0) & (sumlx * sumlx > best * suml2)
        new_scale = sumlx / np.where(suml2 > 0, suml2, 1.0)
        L = np.where(better[:, None], l + nmax, L)
        scale = np.where(better, new_scale, scale)
        best = np.where(better, new_scale * sumlx, best)
    return np.where(small, 0.0, scale), np.where(small[:, None], 0, L)


def quantize_q6_k(data: np.ndarray, imatrix: np.ndarray | None = None) -> np.ndarray:
    """Rows of a 2-D float array (row length a multiple of 256) as Q6_K blocks: uint8 (rows, bytes)."""
    rows, cols = data.shape
    x = data.astype(np.float64).reshape(-1, 16, 16)
    weights = importance(data, imatrix)
    d, scales, L = q6_k_grid(x, None if weights is None else weights.reshape(-1, 16, 16))
    sub = d.astype(np.float64)[:, None] * scales
    q = np.clip(np.rint(x / np.where(sub != 0, sub, 1.0)[..., None]), -32, 31) + 32
    L = np.where((sub != 0)[..., None], q, L)
    return pack_q6_k(d, scales, L).reshape(rows, cols // QK_K * 210)


def q6_k_grid(x: np.ndarray, weights: np.ndarray | None = None):
    """Q6_K's grid for super-blocks x (B, 16, 16): the f16 scale d of each and each sub-block's int8
    scale (B, 16), so that a value is d*scale*(q - 32) with q in [0, 63]; and the search's own
    levels (B, 16, 16), for sub-blocks whose stored scale is 0."""
    B = x.shape[0]
    scale, L = _qx(x.reshape(-1, 16), 32, None if weights is None else weights.reshape(-1, 16))
    scale, L = scale.reshape(B, 16), L.reshape(B, 16, 16)
    at = np.abs(scale).argmax(1)
    max_scale = scale[np.arange(B), at]
    zero = np.abs(max_scale) < GROUP_MAX_EPS
    iscale = -128.0 / np.where(zero, 1.0, max_scale)
    d = np.where(zero, 0.0, 1.0 / iscale).astype(np.float16)
    scales = np.where(zero[:, None], 0, np.minimum(127, np.rint(iscale[:, None] * scale))).astype(np.int8)
    return d, scales, np.where(zero[:, None, None], 0, L)


def pack_q6_k(d: np.ndarray, scales: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Q6_K blocks (B, 210) from the grid (q6_k_grid) and the levels L (B, 16, 16) in [0, 63]."""
    B = L.shape[0]
    L = L.astype(np.uint8).reshape(B, 2, 4, 32)
    # Each half of 128 values: low nibbles of rows 0 and 2 share bytes, of 1 and 3 likewise;
    # the top 2 bits of all four rows share one byte.
    ql = np.concatenate([(L[:, :, 0] & 0xF) | ((L[:, :, 2] & 0xF) << 4), (L[:, :, 1] & 0xF) | ((L[:, :, 3] & 0xF) << 4)], axis=2)
    qh = (L[:, :, 0] >> 4) | ((L[:, :, 1] >> 4) << 2) | ((L[:, :, 2] >> 4) << 4) | ((L[:, :, 3] >> 4) << 6)
    return np.concatenate(
        [ql.reshape(B, 128), qh.reshape(B, 64), scales.astype(np.int8).view(np.uint8), d.astype(np.float16).view(np.uint8).reshape(B, 2)], axis=1
    )


def quantize_q4_0(data: np.ndarray, imatrix: np.ndarray | None = None) -> np.ndarray:
    """Rows (length a multiple of 32) as q4_0 blocks: d (f16), 16 bytes of 4-bit values (the first
    16 in the low nibbles, the last 16 in the high), x ~ d*(q - 8). Without an imatrix, the
    reference rule (d from the block's largest value, as the library writes it); with one, the
    weighted search of quantize_row_q4_0_impl."""
    return _q32(data, imatrix, 8)


def quantize_q5_0(data: np.ndarray, imatrix: np.ndarray | None = None) -> np.ndarray:
    """Rows as q5_0 blocks: d (f16), the 32 values' fifth bits (uint32), their low 4 bits as in
    q4_0; x ~ d*(q - 16)."""
    return _q32(data, imatrix, 16)


def _q32(data: np.ndarray, imatrix: np.ndarray | None, nmax: int) -> np.ndarray:
    rows, cols = data.shape
    weights = importance(data, imatrix)
    if weights is None:
        # The reference rule in float32, as the library and quantize_row_q4_0_ref compute it.
        x = data.astype(np.float32).reshape(-1, 32)
        B = x.shape[0]
        d = x[np.arange(B), np.abs(x).argmax(1)] / np.float32(-nmax)
        inv = np.where(d != 0, np.float32(1) / np.where(d != 0, d, np.float32(1)), np.float32(0)).astype(np.float32)
        q = np.clip(np.trunc(x * inv[:, None] + np.float32(nmax + 0.5)), 0, 2 * nmax - 1).astype(np.uint32)
    else:
        x = data.astype(np.float64).reshape(-1, 32)
        d, q = _qx(x, nmax, weights.reshape(-1, 32))
        q = q.astype(np.uint32)
    return pack_q32(d, q, nmax, rows, cols)


def pack_q32(d: np.ndarray, q: np.ndarray, nmax: int, rows: int, cols: int) -> np.ndarray:
    """Blocks of 32 values as q4_0 (nmax 8) or q5_0 (nmax 16) bytes: each block's scale d and its
    levels q (uint, (blocks, 32), in [0, 2 nmax)), the blocks row by row: uint8 (rows, bytes)."""
    B = q.shape[0]
    d = d.astype(np.float16)
    q = q.astype(np.uint32)
    qs = ((q[:, :16] & 0xF) | ((q[:, 16:] & 0xF) << 4)).astype(np.uint8)
    parts = [d.view(np.uint8).reshape(B, 2)]
    if nmax == 16:
        high = (q >> 4) & 1
        qh = (high << np.arange(32, dtype=np.uint32)).sum(1).astype("<u4")
        parts.append(qh.view(np.uint8).reshape(B, 4))
    parts.append(qs)
    return np.concatenate(parts, axis=1).reshape(rows, cols // 32 * (18 if nmax == 8 else 22))


def q4_k_m_type(name: str, row_length: int, layer: int | None, n_layer: int, tied: bool) -> str:
    """llama.cpp's Q4_K_M recipe (llama-quant.cpp, llama_tensor_get_type) for a llama model: the
    output layer (or a tied embedding, which is also the output) Q6_K; attention values and the
    MLP's down projection Q6_K in the first and last eighth of the layers and every third between,
    Q4_K elsewhere; the rest Q4_K. A row that is not a multiple of 256 takes llama.cpp's fallback:
    Q4_K -> q5_0, Q6_K -> q8_0 (and the output layer q8_0 directly), f16 below 32."""

    def more_bits(i: int, n: int) -> bool:
        return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2

    if name == "output.weight" or (tied and name == "token_embd.weight"):
        kind = "q8_0" if row_length % QK_K else "q6_k"
    elif name.endswith(("attn_v.weight", "ffn_down.weight")) and layer is not None and more_bits(layer, n_layer):
        kind = "q6_k"
    else:
        kind = "q4_k"
    if kind in ("q4_k", "q6_k") and row_length % QK_K:
        kind = {"q4_k": "q5_0", "q6_k": "q8_0"}[kind]
    if row_length % 32:
        kind = "f16"
    return kind
