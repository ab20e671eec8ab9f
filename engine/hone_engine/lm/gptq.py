"""GPTQ rounding for GGUF's block types (q4_0, q5_0, Q4_K, Q6_K): Frantar et al., "GPTQ: Accurate
Post-Training Quantization for Generative Pre-trained Transformers" (2022), written for llama.cpp's
block layout.

Rounding each weight to its nearest level minimises the error of the weights; what matters is the
error of the layer's output on real inputs, ||X W^T - X Q^T||^2 = tr((W - Q) H (W - Q)^T) with
H = X^T X. GPTQ walks the input columns in order: it rounds column j, then spreads that column's
error over the columns not yet rounded, in the proportions H's inverse gives, so that the output
moves as little as possible (the Optimal Brain Surgeon update, one column at a time, with the
Cholesky factor of H^-1 instead of re-inverting). Updates to far columns are batched per block of
128 columns (the paper's "lazy batch" trick: one matmul a block, not one rank-1 update a column).

The block types fix the grid. q4_0 / q5_0: 32 consecutive input columns of a row share one f16
scale d, values d * (q - nmax), q in [0, 2 nmax). Q4_K: 256 columns share an f16 scale and min,
each 32 of them a 6-bit scale and min, values d*ls*q - dmin*lm, q in [0, 15]. Q6_K: 256 columns
share an f16 scale, each 16 an int8 scale, values d*sc*(q - 32), q in [0, 63]. A block's grid is
chosen when GPTQ reaches its first column, from its weights as the earlier columns' updates left
them, by llama.cpp's own rule for that type (lm/kquants.py), so every rounded value lies exactly on
the file's grid; GPTQ then chooses the levels.

Against the importance matrix (a per-column weight: H's diagonal only), GPTQ uses how columns
combine. On the support-chat run, rounding to nearest raised the test answers' loss from 0.0545
(fp32) to 0.0849 and the diagonal weighting to 0.1032; GPTQ kept it at 0.0556 (docs/benchmarks.md).
"""

import numpy as np
import torch

from . import kquants

LAZY = 256  # columns updated together (a multiple of every type's block)
DAMP = 0.01  # H += DAMP * mean(diag H) * I: keeps the inverse stable where inputs are nearly collinear


def _q32(nmax: int):
    def grid(x: np.ndarray):
        d = (x[np.arange(len(x)), np.abs(x).argmax(1)] / -nmax).astype(np.float16)
        step = np.repeat(d.astype(np.float64)[:, None], 32, 1)
        return step, -nmax * step, 2 * nmax - 1, nmax, d

    def pack(states, L, rows, cols):
        d = np.stack(states, 1).reshape(-1)
        return kquants.pack_q32(d, L.reshape(-1, 32), nmax, rows, cols)

    return 32, grid, pack


def _q4_k():
    def grid(x: np.ndarray):
        d, dmin, ls, lm, _ = kquants.q4_k_grid(x.reshape(-1, 8, 32))
        step = np.repeat(d.astype(np.float64)[:, None] * ls, 32, 1)
        low = np.repeat(dmin.astype(np.float64)[:, None] * lm, 32, 1)
        return step, -low, 15, 0, (d, dmin, ls, lm)

    def pack(states, L, rows, cols):
        d, dmin, ls, lm = (np.stack([s[i] for s in states], 1) for i in range(4))
        n = rows * cols // kquants.QK_K
        blocks = kquants.pack_q4_k(d.reshape(n), dmin.reshape(n), ls.reshape(n, 8), lm.reshape(n, 8), L.reshape(n, 8, 32))
        return blocks.reshape(rows, -1)

    return kquants.QK_K, grid, pack


def _q6_k():
    def grid(x: np.ndarray):
        d, sc, _ = kquants.q6_k_grid(x.reshape(-1, 16, 16))
        step = np.repeat(d.astype(np.float64)[:, None] * sc, 16, 1)
        return step, -32 * step, 63, 32, (d, sc)

    def pack(states, L, rows, cols):
        d, sc = (np.stack([s[i] for s in states], 1) for i in range(2))
        n = rows * cols // kquants.QK_K
        return kquants.pack_q6_k(d.reshape(n), sc.reshape(n, 16), L.reshape(n, 16, 16)).reshape(rows, -1)

    return kquants.QK_K, grid, pack


# Per type: the block width, grid(weights (rows, width)) -> (step, offset (rows, width): a level q
# means step * q + offset; the largest level; the level where step is 0; what the packer needs),
# and pack(grid states, levels (rows, cols), rows, cols) -> the file's bytes (rows, bytes).
TYPES = {"q4_0": _q32(8), "q5_0": _q32(16), "q4_k": _q4_k(), "q6_k": _q6_k()}


def quantize(weight: np.ndarray, gram: torch.Tensor, kind: str) -> np.ndarray:
    """Rows of `weight` (rows, cols; cols a multiple of the type's block) as blocks of `kind` (a key
    of TYPES), rounded by GPTQ under `gram` (cols, cols: the mean of x^T x over the layer's
    calibration inputs). Returns the file's bytes: uint8 (rows, bytes), as kquants' writers do."""
    width, grid, pack = TYPES[kind]
    W = torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float64))
    rows, cols = W.shape
    H = gram.to(torch.float64).clone()
    # Columns no input ever reached carry nothing: their weights round alone (set H's diagonal so
    # the inverse exists; their error then spreads nowhere).
    dead = torch.diag(H) == 0
    H[dead, dead] = 1.0
    H += DAMP * torch.diag(H).mean() * torch.eye(cols, dtype=H.dtype)
    # Upper Cholesky factor of H^-1: row j holds how column j's error is spread over columns > j.
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    levels = torch.zeros(rows, cols, dtype=torch.float64)
    states = []
    for a in range(0, cols, LAZY):
        b = min(a + LAZY, cols)
        W1 = W[:, a:b].clone()
        E1 = torch.zeros_like(W1)
        H1 = Hinv[a:b, a:b]
        for j in range(b - a):
            if j % width == 0:
                step, offset, top, idle, state = grid(W1[:, j : j + width].numpy())
                step, offset = torch.from_numpy(step), torch.from_numpy(offset)
                live = step != 0
                safe = torch.where(live, step, torch.ones_like(step))
                states.append(state)
            c = j % width
            w = W1[:, j]
            # the nearest level (ties up, as quantize_row_q4_0_ref's truncation of x/d + nmax + 0.5)
            q = torch.where(live[:, c], torch.clamp(torch.floor((w - offset[:, c]) / safe[:, c] + 0.5), 0, top), torch.full_like(w, idle))
            levels[:, a + j] = q
            err = (w - (step[:, c] * q + offset[:, c])) / H1[j, j]
            W1[:, j:] -= err[:, None] * H1[j, j:][None, :]
            E1[:, j] = err
        W[:, b:] -= E1 @ Hinv[a:b, b:]
    return pack(states, levels.numpy().astype(np.uint32), rows, cols)
