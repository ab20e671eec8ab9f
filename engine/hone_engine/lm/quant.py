"""4-bit GGUF weights chosen with care. A Q4_0 block holds 32 weights as one f16 scale d and 4-bit
codes q (x ~ d * (q - 8)); the `gguf` library's quantizer maps each block's largest weight to -8,
which wastes levels on one outlier. Here each block's scale is the one, among 20 candidates
around that, that minimises the block's *importance-weighted* squared error, with d solved in
closed form for the chosen codes (llama.cpp's make_qx_quants / quantize_row_q4_0_impl). The
importance of a weight is the mean square of its input on real text (llama.cpp's importance
matrix, "imatrix", here measured on the run's own training sequences) times sqrt(sigma^2 + x^2),
sigma^2 the row's mean square, as llama.cpp weighs it. The file format is plain Q4_0: every tool
that reads Q4_0 reads it."""

import numpy as np
import torch

BLOCK = 32  # Q4_0 block size (ggml's QK4_0)


def q4_0(data: np.ndarray, importance: "np.ndarray | None") -> np.ndarray:
    """`data` [rows, cols] (cols a multiple of 32) as Q4_0 bytes [rows, cols / 32 * 18], the layout
    gguf.quants.quantize returns: per block the f16 scale, then 16 bytes of codes, the low nibbles
    the block's first 16 weights, the high nibbles its last 16. `importance` [cols] or None
    (then each weight counts by its own square: the large weights are kept best)."""
    rows, cols = data.shape
    x = data.astype(np.float32).reshape(-1, BLOCK)  # row-major: a row's blocks are consecutive
    sigma2 = np.repeat((data.astype(np.float32) ** 2).mean(axis=1), cols // BLOCK)[:, None]
    if importance is None:
        w = x * x
    else:
        w = np.tile(importance.astype(np.float32).reshape(-1, BLOCK), (rows, 1)) * np.sqrt(sigma2 + x * x)
    signed_max = np.take_along_axis(x, np.abs(x).argmax(axis=1)[:, None], axis=1)[:, 0]
    live = signed_max != 0
    best_codes = np.zeros_like(x)
    best_d = np.zeros(len(x), dtype=np.float32)
    best_score = np.full(len(x), -1.0, dtype=np.float32)
    # Candidate 0 is the library's scale (the largest weight at -8); the others stretch or shrink it
    # by up to 0.9 of a level. The weighted error for codes L at their best d = sum(wxL)/sum(wLL) is
    # sum(wx^2) - sum(wxL)^2 / sum(wLL): the candidate with the largest sum(wxL)^2 / sum(wLL) wins.
    for step in [0, *range(-9, 0), *range(1, 10)]:
        inv = np.where(live, -(8 + 0.1 * step) / np.where(live, signed_max, 1), 0)
        codes = np.clip(np.rint(inv[:, None] * x), -8, 7)
        sumlx = (w * x * codes).sum(axis=1)
        suml2 = (w * codes * codes).sum(axis=1)
        score = np.where(suml2 > 0, sumlx * sumlx / np.where(suml2 > 0, suml2, 1), 0)
        better = score > best_score
        best_score = np.where(better, score, best_score)
        best_d = np.where(better, np.where(suml2 > 0, sumlx / np.where(suml2 > 0, suml2, 1), 0), best_d)
        best_codes[better] = codes[better]
    q = (best_codes + 8).astype(np.uint8)
    packed = q[:, : BLOCK // 2] | (q[:, BLOCK // 2 :] << np.uint8(4))
    d = best_d.astype(np.float16).reshape(-1, 1).view(np.uint8)
    return np.concatenate([d, packed], axis=1).reshape(rows, cols // BLOCK * (2 + BLOCK // 2))


def dequantize_q4_0(raw: np.ndarray, cols: int) -> np.ndarray:
    """The weights a Q4_0 reader sees (for tests and the error report)."""
    blocks = raw.reshape(-1, 2 + BLOCK // 2)
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    codes = np.concatenate([blocks[:, 2:] & 0x0F, blocks[:, 2:] >> 4], axis=1).astype(np.float32) - 8
    return (d * codes).reshape(-1, cols)


@torch.no_grad()
def input_importance(model, sequences: "list[np.ndarray]") -> dict:
    """Mean square of each linear layer's input, per input column, over every token of the given
    sequences (one at a time, so no padding counts): {module name: [in_features]}."""
    sums, counts, hooks = {}, {}, []

    def hook(name):
        def record(_module, args):
            a = args[0].detach().float().reshape(-1, args[0].shape[-1])
            sums[name] = sums.get(name, 0) + (a * a).sum(0)
            counts[name] = counts.get(name, 0) + a.shape[0]

        return record

    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            hooks.append(module.register_forward_pre_hook(hook(name)))
    try:
        for ids in sequences:
            model(input_ids=torch.as_tensor(ids, dtype=torch.long)[None])
    finally:
        for h in hooks:
            h.remove()
    return {name: (sums[name] / counts[name]).numpy() for name in sums}
