"""Why FlexAttention was taken out of the engine's packed path (device diagnostic): one compiled
function, called with the block-diagonal causal masks of two batches in turn (same shapes, other
sequences), against SDPA with each batch's dense mask. Masks made two ways: torch's
create_block_mask, and BlockMask.from_kv_blocks from a layout built on the CPU (the engine's
former path). Max |difference| of the outputs and, with requires_grad, of the q/k/v gradients;
one JSON line per case. On an H100 with torch 2.11 the engine's path computed the second batch
with the first batch's mask (out 0.33, dq 0.76 off; the first batch 0.004 and 0.008).
  python3 bench/gpu/flex_check.py"""

import json

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

dev = "cuda" if torch.cuda.is_available() else "cpu"
dtype = torch.bfloat16 if dev == "cuda" else torch.float32
BLOCK = 128
LAYOUTS = ([[5, 110, 3, 40], [150]], [[50, 50, 50], [10, 10, 10, 10]])  # sequences a row; the rest is padding


def sequence_numbers(lengths, width):
    """Each position's sequence in its row, trailing padding a sequence of its own, padded to whole blocks."""
    nb = -(-width // BLOCK)
    return torch.from_numpy(np.stack([np.repeat(np.arange(len(r) + 1), [*r, nb * BLOCK - sum(r)]) for r in lengths]).astype(np.int32))


def from_layout(doc, width):
    """The key blocks each query block needs, from the rows' sequence numbers on the CPU: partial
    ones (a boundary or the diagonal inside) and full ones, as BlockMask.from_kv_blocks takes them."""
    nb = doc.shape[1] // BLOCK
    d = doc.numpy()
    start = np.stack([np.searchsorted(r, r, side="left") for r in d])  # where each position's sequence begins
    q = np.arange(nb)
    first = start[:, ::BLOCK] // BLOCK
    last_doc = d[:, np.minimum(q * BLOCK + BLOCK, width) - 1]
    j = q[None, None, :]
    needed = (j >= first[:, :, None]) & (j <= q[None, :, None])
    whole = (q * BLOCK + BLOCK <= width)[None, :, None]
    full = needed & whole & (j < q[None, :, None]) & (d[:, ::BLOCK][:, None, :] == last_doc[:, :, None])
    partial = needed & ~full

    def layout(m):
        return [torch.from_numpy(a).to(dev) for a in (m.sum(-1).astype(np.int32)[:, None], np.argsort(~m, axis=-1, kind="stable").astype(np.int32)[:, None])]

    on = doc.to(dev)
    return BlockMask.from_kv_blocks(
        *layout(partial), *layout(full), BLOCK_SIZE=BLOCK, mask_mod=lambda b, h, qi, ki: (on[b, qi] == on[b, ki]) & (qi >= ki), seq_lengths=(width, width)
    )


def from_torch(doc, width):
    on = doc.to(dev)
    return create_block_mask(lambda b, h, qi, ki: (on[b, qi] == on[b, ki]) & (qi >= ki), doc.shape[0], None, width, width, device=dev)


def run(name, make, grad, s=300, hq=4, hkv=2, d=16):
    compiled = torch.compile(lambda q, k, v, mask: flex_attention(q, k, v, block_mask=mask, enable_gqa=True))
    for i, lengths in enumerate(LAYOUTS):
        torch.manual_seed(0)
        q, k, v = (torch.randn(len(lengths), h, s, d, device=dev, dtype=dtype, requires_grad=grad) for h in (hq, hkv, hkv))
        doc = sequence_numbers(lengths, s)
        got = compiled(q, k, v, make(doc, s))
        on = doc.to(dev)[:, None, :s]
        allowed = (on[..., :, None] == on[..., None, :]) & torch.ones(s, s, dtype=torch.bool, device=dev).tril()
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, enable_gqa=True)
        out = {"case": name, "batch": i, "requires_grad": grad, "out": float((got.float() - ref.float()).abs().max())}
        if grad:
            g = torch.randn_like(ref)
            for n, a, w in zip("qkv", torch.autograd.grad(got, (q, k, v), g), torch.autograd.grad(ref, (q, k, v), g)):
                out["d" + n] = float((a.float() - w.float()).abs().max())
        print(json.dumps(out), flush=True)


for grad in (False, True) if dev == "cuda" else (False,):  # FlexAttention has no CPU backward
    run("create_block_mask", from_torch, grad)
    run("from_kv_blocks (the engine's former path)", from_layout, grad)
