"""GPTQ rounding for the 32-value GGUF block types (q4_0, q5_0): Frantar et al., "GPTQ: Accurate
Post-Training Quantization for Generative Pre-trained Transformers" (2022), written for llama.cpp's
block layout.

Rounding each weight to its nearest level minimises the error of the weights; what matters is the
error of the layer's output on real inputs, ||X W^T - X Q^T||^2 = tr((W - Q) H (W - Q)^T) with
H = X^T X. GPTQ walks the input columns in order: it rounds column j, then spreads that column's
error over the columns not yet rounded, in the proportions H's inverse gives, so that the output
moves as little as possible (the Optimal Brain Surgeon update, one column at a time, with the
Cholesky factor of H^-1 instead of re-inverting). Updates to far columns are batched per block of
128 columns (the paper's "lazy batch" trick: one matmul a block, not one rank-1 update a column).

The block types fix the grid: 32 consecutive input columns of a row share one f16 scale d, values
d * (q - nmax) with q in [0, 2 nmax). A block's scale is taken when GPTQ reaches its first column,
from the block's weights as the earlier columns' updates left them, by llama.cpp's reference rule
(d = the largest-magnitude value / -nmax), so every rounded value lies exactly on the file's grid.

Against the importance matrix (a per-column weight: H's diagonal only), GPTQ uses how columns
combine. On the support-chat run, rounding to nearest raised the test answers' loss from 0.0545
(fp32) to 0.0849 and the diagonal weighting to 0.1032; GPTQ kept it at 0.0556 (docs/benchmarks.md).
"""

import numpy as np
import torch

BLOCK = 32
LAZY = 128  # columns updated together (a multiple of BLOCK)
DAMP = 0.01  # H += DAMP * mean(diag H) * I: keeps the inverse stable where inputs are nearly collinear


def quantize(weight: np.ndarray, gram: torch.Tensor, nmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `weight` (rows, cols; cols a multiple of 32) rounded by GPTQ under `gram` (cols, cols:
    the sum or mean of x^T x over the layer's calibration inputs). Returns each block's scale
    (float16, rows * cols / 32) and levels (uint32, (rows * cols / 32, 32), in [0, 2 nmax)), in
    the order the blocks lie in the file: row by row, left to right."""
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
    scales = torch.zeros(rows, cols // BLOCK, dtype=torch.float64)
    levels = torch.zeros(rows, cols, dtype=torch.float64)
    for a in range(0, cols, LAZY):
        b = min(a + LAZY, cols)
        W1 = W[:, a:b].clone()
        E1 = torch.zeros_like(W1)
        H1 = Hinv[a:b, a:b]
        for j in range(b - a):
            if j % BLOCK == 0:
                blk = W1[:, j : j + BLOCK]
                peak = blk.gather(1, blk.abs().argmax(1, keepdim=True))[:, 0]
                d = (peak / -nmax).to(torch.float16).to(torch.float64)  # the file stores f16
                inv = torch.where(d != 0, 1.0 / torch.where(d != 0, d, torch.ones_like(d)), torch.zeros_like(d))
                scales[:, (a + j) // BLOCK] = d
            w = W1[:, j]
            # quantize_row_q4_0_ref: truncation of x/d + nmax + 0.5, i.e. the nearest level
            q = torch.clamp(torch.trunc(w * inv + nmax + 0.5), 0, 2 * nmax - 1)
            levels[:, a + j] = q
            err = (w - (q - nmax) * d) / H1[j, j]
            W1[:, j:] -= err[:, None] * H1[j, j:][None, :]
            E1[:, j] = err
        W[:, b:] -= E1 @ Hinv[a:b, b:]
    d = scales.reshape(-1).numpy().astype(np.float16)
    q = levels.reshape(rows, cols // BLOCK, BLOCK).reshape(-1, BLOCK).numpy().astype(np.uint32)
    return d, q
