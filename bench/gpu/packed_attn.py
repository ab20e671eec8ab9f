"""Attention over packed rows of many short sequences (device probe): each kernel that can confine
attention to its own sequence, forward + backward, at the benchmark's shape (8 rows x 2048 tokens,
32 query heads, 8 key heads, head dim 64), with the sequence lengths of CLINC150 as chat (~44
tokens) and of longer documents. Checks each against per-sequence causal SDPA in fp32 (outputs and
q/k/v gradients, max |difference|) and times it with CUDA events. One JSON line per case.
  PYTHONPATH=<jsonschema> python3 bench/gpu/packed_attn.py [--steps 20] [--engine DIR]   (the engine imports jsonschema)

Kernels: torch's varlen_attn (key heads repeated where this torch's wrapper wants as many as
query heads: the engine's path before), the engine's own operator on Flash Attention's
variable-length kernel with the grouped key heads as they are, cuDNN's variable-length op, FlexAttention with create_block_mask per batch, and causal
attention over whole rows (what attention costs when the rows hold one sequence each)."""

import argparse
import json
import random
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F

# The engine to import: this tree's, or --engine DIR (another checkout's, e.g. with a patch applied).
ENGINE = next((sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--engine"), str(Path(__file__).resolve().parents[2] / "engine"))
sys.path.insert(0, ENGINE)
from hone_engine.lm import varlen  # noqa: E402  (the engine's operator, imported once)

B, S, HQ, HKV, D = 8, 2048, 32, 8, 64
dev, dt = "cuda", torch.bfloat16


def pack(lo, hi, seed):
    """Rows of S tokens filled greedily with lengths drawn from [lo, hi], the rest of each row a
    padding sequence: their boundaries as the engine computes them."""
    rng = random.Random(seed)
    rows = []
    for _ in range(B):
        row, used = [], 0
        while True:
            n = rng.randint(lo, hi)
            if used + n > S:
                break
            row.append(n)
            used += n
        rows.append(row)
    cu, longest = varlen.boundaries(rows, S)
    return cu.to(dev), longest


def reference(q, k, v, cu):
    """Per-sequence causal SDPA in fp32: q (T, HQ, D), k/v (T, HKV, D)."""
    outs = []
    bounds = cu.tolist()
    for a, b in zip(bounds[:-1], bounds[1:]):
        qs, ks, vs = (t[a:b].float().transpose(0, 1)[None] for t in (q, k, v))
        outs.append(F.scaled_dot_product_attention(qs, ks, vs, is_causal=True, enable_gqa=True)[0].transpose(0, 1))
    return torch.cat(outs)


class CudnnVarlen(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, cu, longest):
        r = torch.ops.aten._cudnn_attention_forward(q, k, v, None, cu, cu, longest, longest, True, 0.0, True, False)
        out, lse, seed, offset = r[0], r[1], r[6], r[7]
        ctx.save_for_backward(q, k, v, out, lse, cu, seed, offset)
        ctx.longest = longest
        return out

    @staticmethod
    def backward(ctx, g):
        q, k, v, out, lse, cu, seed, offset = ctx.saved_tensors
        empty = torch.empty(0, device=q.device, dtype=q.dtype)
        dq, dk, dv = torch.ops.aten._cudnn_attention_backward(
            g.contiguous(), q, k, v, out, lse, seed, offset, empty, cu, cu, ctx.longest, ctx.longest, 0.0, True
        )
        return dq, dk, dv, None, None


def repeat(k, v):
    return k.repeat_interleave(HQ // HKV, 1), v.repeat_interleave(HQ // HKV, 1)


def engine_varlen(q, k, v, cu, longest):
    import inspect

    from torch.nn.attention.varlen import varlen_attn

    params = inspect.signature(varlen_attn).parameters
    kw = {"is_causal": True} if "is_causal" in params else {"window_size": (-1, 0)}
    if "enable_gqa" in params:
        kw["enable_gqa"] = True
    else:
        k, v = repeat(k, v)
    return varlen_attn(q, k, v, cu, cu, longest, longest, **kw)


def engine_op(q, k, v, cu, longest):
    """The engine's own operator: Flash's variable-length kernel with the grouped key heads."""
    return varlen._flash(q, k, v, cu, longest, D**-0.5)[0]


def cudnn_varlen(q, k, v, cu, longest):
    return CudnnVarlen.apply(q, *repeat(k, v), cu, longest)


def cudnn_varlen_gqa(q, k, v, cu, longest):
    return CudnnVarlen.apply(q, k, v, cu, longest)


_flex = {}


def block_mask(cu, size=128):
    from torch.nn.attention.flex_attention import create_block_mask

    doc = varlen.sequence_ids(cu, B, S)
    return create_block_mask(lambda b, h, qi, ki: (doc[b, qi] == doc[b, ki]) & (qi >= ki), B, None, S, S, device=dev, BLOCK_SIZE=size)


def flex(q, k, v, cu, longest, premade=False, dynamic=None, engine_mask=False, size=128, options=None):
    """premade: the mask made once per batch, untimed (the engine makes one a step for all layers);
    engine_mask: made by the engine's varlen.flex_mask (create_block_mask compiled for symbolic
    shapes); dynamic=True: flex_attention compiled for symbolic shapes, as the engine's layers are
    for real (ragged) data; size: the mask's block (query and key tokens); options: the kernel's
    kernel_options (its tile sizes BLOCK_M/BLOCK_N, num_warps, num_stages)."""
    from torch.nn.attention.flex_attention import flex_attention

    fn = ("fn", dynamic, str(options))  # each its own compiled function: no recompile limit shared
    if fn not in _flex:
        _flex[fn] = torch.compile(flex_attention, dynamic=dynamic)
    if premade:
        key = (cu.data_ptr(), len(cu), engine_mask, size)
        if key not in _flex:
            _flex[key] = varlen.flex_mask(cu, B, S) if engine_mask else block_mask(cu, size)
        mask = _flex[key]
    else:
        mask = block_mask(cu, size)
    out = _flex[fn](
        q.view(B, S, HQ, D).transpose(1, 2),
        k.view(B, S, HKV, D).transpose(1, 2),
        v.view(B, S, HKV, D).transpose(1, 2),
        block_mask=mask,
        enable_gqa=True,
        kernel_options=options,
    )
    return out.transpose(1, 2).reshape(B * S, HQ, D)


def whole_rows(q, k, v, cu, longest):
    out = F.scaled_dot_product_attention(
        q.view(B, S, HQ, D).transpose(1, 2), k.view(B, S, HKV, D).transpose(1, 2), v.view(B, S, HKV, D).transpose(1, 2), is_causal=True, enable_gqa=True
    )
    return out.transpose(1, 2).reshape(B * S, HQ, D)


KERNELS = {
    "torch varlen_attn, keys repeated (the engine before 77d8de6)": engine_varlen,
    "cudnn varlen, keys repeated": cudnn_varlen,
    "cudnn varlen, grouped keys": cudnn_varlen_gqa,
    "flex, create_block_mask per call": flex,
    "flex, mask made beforehand": lambda *a: flex(*a, premade=True),
    "flex, the engine's mask made beforehand": lambda *a: flex(*a, premade=True, engine_mask=True),
    "flex for symbolic shapes, mask made beforehand": lambda *a: flex(*a, premade=True, dynamic=True),
    "flex for symbolic shapes, the engine's mask made beforehand": lambda *a: flex(*a, premade=True, dynamic=True, engine_mask=True),
    # Short sequences (~44 tokens) waste most of a 128 x 128 tile: smaller mask blocks and tiles
    "flex 64-token blocks, 64 x 64 tiles, mask made beforehand": lambda *a: flex(*a, premade=True, size=64, options={"BLOCK_M": 64, "BLOCK_N": 64}),
    "flex 64-token blocks, mask made beforehand": lambda *a: flex(*a, premade=True, size=64),
    "flex, 64 x 64 tiles, mask made beforehand": lambda *a: flex(*a, premade=True, options={"BLOCK_M": 64, "BLOCK_N": 64}),
    "flex, 4 warps, mask made beforehand": lambda *a: flex(*a, premade=True, options={"num_warps": 4}),
    "flash varlen, grouped keys (the engine's hone::varlen_flash)": engine_op,
    "causal whole rows (not packed)": whole_rows,
}


def case(name, fn, data, steps):
    res = {"kernel": name, "data": data["name"], "sequences": data["sequences"], "mean_length": data["mean"]}
    try:
        errs = {}
        for i, (cu, longest) in enumerate(data["batches"]):  # two batches: a kernel that keeps the first's layout fails the second
            torch.manual_seed(i)
            q = torch.randn(B * S, HQ, D, device=dev, dtype=dt, requires_grad=True)
            k = torch.randn(B * S, HKV, D, device=dev, dtype=dt, requires_grad=True)
            v = torch.randn(B * S, HKV, D, device=dev, dtype=dt, requires_grad=True)
            g = torch.randn(B * S, HQ, D, device=dev, dtype=dt)
            got = fn(q, k, v, cu, longest)
            grads = torch.autograd.grad(got, (q, k, v), g)
            if name.startswith("causal whole rows"):
                continue
            qr, kr, vr = (t.detach().float().requires_grad_() for t in (q, k, v))
            ref = reference(qr, kr, vr, cu)
            rgrads = torch.autograd.grad(ref, (qr, kr, vr), g.float())
            errs[f"batch{i}"] = {"out": float((got.float() - ref).abs().max())} | {
                "d" + n: float((a.float() - w).abs().max()) for n, a, w in zip("qkv", grads, rgrads)
            }
        res["max_abs_err"] = errs
        cu, longest = data["batches"][0]
        q.grad = None
        t0 = time.time()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for i in range(5 + steps):
            if i == 5:
                torch.cuda.synchronize()
                start.record()
            torch.autograd.grad(fn(q, k, v, cu, longest), (q, k, v), g)
        end.record()
        torch.cuda.synchronize()
        res["ms_fwd_bwd"] = start.elapsed_time(end) / steps
        res["wall_s"] = time.time() - t0
    except Exception as e:  # a kernel this torch lacks or refuses: say so, go on
        res["error"] = f"{type(e).__name__}: {str(e)[:300]}"
        res["where"] = traceback.format_exc()[-1200:]
    print(json.dumps(res), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--only", default="")
    ap.add_argument("--engine", default=ENGINE, help="the engine directory to import (read before the import, above)")
    args = ap.parse_args()
    print(json.dumps({"torch": torch.__version__, "gpu": torch.cuda.get_device_name(), "cudnn": torch.backends.cudnn.version()}), flush=True)
    datasets = []
    for name, lo, hi in (("chat ~44 tokens", 20, 68), ("documents 100-900 tokens", 100, 900)):
        batches = [pack(lo, hi, seed) for seed in (0, 1)]
        n = len(batches[0][0]) - 1
        datasets.append({"name": name, "batches": batches, "sequences": n, "mean": B * S / n})
    for data in datasets:
        cu = data["batches"][0][0]
        block_mask(cu)
        torch.cuda.synchronize()
        t = time.time()
        for _ in range(10):
            block_mask(cu)
        torch.cuda.synchronize()
        timings = {"data": data["name"], "create_block_mask_ms": (time.time() - t) * 100}
        if hasattr(varlen, "flex_mask"):  # the engine's own mask (varlen.flex_mask)
            for _ in range(3):
                varlen.flex_mask(cu, B, S)
            torch.cuda.synchronize()
            t = time.time()
            for _ in range(10):
                varlen.flex_mask(cu, B, S)
            torch.cuda.synchronize()
            timings["engine_flex_mask_ms"] = (time.time() - t) * 100
        print(json.dumps(timings), flush=True)
        for name, fn in KERNELS.items():
            if args.only and args.only not in name:
                continue
            case(name, fn, data, args.steps)


if __name__ == "__main__":
    main()
