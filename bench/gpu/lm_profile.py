"""Where a compiled Hone LoRA step spends its GPU time (device; run after bench/gpu/lm_speed.py made
the model). Same model, data and code path as the engine (hone_engine.lm), torch.profiler over a few
steps, kernels grouped by kind. Prints a table; writes $OUT/lm_profile.json.
  python3 bench/gpu/lm_profile.py [--batch 8] [--seq 2048] [--steps 4] [--no-compile] [--peft-lora]
--data DIR (the shards of `node bench/lm.mjs shards`): the packed real rows instead of random full
rows, a step's batch collated from the epoch order as the engine does (host time included in the
wall figure), the layers compiled for varying shapes.
"""

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "engine"))
from hone_engine import fused_lora, lm  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=8)
p.add_argument("--seq", type=int, default=2048)
p.add_argument("--steps", type=int, default=4)
p.add_argument("--no-compile", action="store_true")
p.add_argument("--method", default="lora")
p.add_argument("--peft-lora", action="store_true", help="peft's own LoRA forward, not the engine's one-matmul layers")
p.add_argument("--data", default=None, help="packed real shards (node bench/lm.mjs shards)")
p.add_argument("--budget", type=float, default=1.0, help="train.activation_budget")
p.add_argument("--varying", action="store_true", help="compile for symbolic shapes on random rows too (its cost, A/B)")
p.add_argument("--tag", default="")
args = p.parse_args()
OUT = Path(os.environ.get("OUT", ROOT / "bench" / "out"))
META = json.loads((Path(args.data) / "meta.json").read_text()) if args.data else None
# lm_speed.py's model folder for the shape (its vocabulary: the data's, else the shape's own)
model_dir = Path("/tmp/hone-lm-speed/llama-1b") / str(META["config"]["vocab_size"] if META else 128256)
spec = {
    "path": str(model_dir),
    "adapter": None,
    "architecture": "causal",
    "head": "lm",
    "dtype": "bf16" if args.method != "none" else "fp32",
    "pad_token_id": 0,
}
adapter = {"method": args.method, "r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"}
model = lm.load(spec, adapter, trainable=True).cuda()
if args.method == "lora" and not args.peft_lora:
    fused_lora.fuse(model)  # as the engine does on a GPU
params = [q for q in model.parameters() if q.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4, fused=True)
rng = np.random.default_rng(0)
V = lm.causal(model).config.vocab_size
n = args.batch
if META:
    real = Path(args.data)
    shard = lm.load_shard(
        {
            "tokens": str(real / "train.tokens.u32"),
            "offsets": str(real / "train.offsets.u32"),
            "count": META["conversations"],
            "loss_mask": str(real / "train.mask.u8"),
            "rows": {"offsets": str(real / "train.rows.offsets.u32"), "items": str(real / "train.rows.items.u32"), "count": META["rows"]},
        },
        pairs=False,
    )
    order = lm.epoch_rows(len(shard.rows), 0, 0)
else:
    tokens = rng.integers(2, V, size=(n, args.seq)).astype(np.uint32)
    mask = np.ones(n * args.seq, dtype=np.uint8)
    shard = lm.LmShard(tokens.reshape(-1), np.arange(n + 1) * args.seq, mask, [np.array([i]) for i in range(n)])
    order = np.arange(n)
lengths = np.diff(shard.offsets)
# As the engine does (lm_train.py): packed short sequences one shape, through FlexAttention
flex_width = lm.varlen.flex_width(shard.row_sizes()[0], shard.count, "cuda") if META and not args.no_compile else None
if not args.no_compile:
    lm.compile_decoder(model, varying=bool(META) or args.varying, budget=args.budget, flex_width=flex_width)
calls = {"n": 0, "tokens": 0, "host_s": 0.0}
autocast = torch.autocast("cuda", dtype=torch.bfloat16)


def next_batch():
    """The next step's rows, collated as the engine does (one batch again and again on random rows)."""
    k = calls["n"] % max(1, len(order) // n)
    rows = [shard.rows[u] for u in order[k * n : (k + 1) * n]]
    calls["n"] += 1
    calls["tokens"] += int(sum(lengths[r].sum() for r in rows))
    t = time.time()
    b = lm.collate(shard, rows, 0, bool(META), shape=(n, flex_width) if flex_width else None)
    calls["host_s"] += time.time() - t
    return b


def step():
    batch = next_batch()
    with autocast:
        total = lm.summed_logp(model, batch, "cuda")
    (-total / max(1, len(batch["targets"]))).backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)


for _ in range(12 if META else 6):  # compile and warm up (real lengths: the symbolic graph's variants)
    step()
torch.cuda.synchronize()
from torch.profiler import ProfilerActivity, profile  # noqa: E402

calls.update(tokens=0, host_s=0.0)
t0 = time.time()
for _ in range(args.steps):
    step()
torch.cuda.synchronize()
wall_ms = (time.time() - t0) * 1000 / args.steps  # this loop's step, unprofiled: busy + idle
wall_tokens, host_ms = calls["tokens"] / args.steps, calls["host_s"] * 1000 / args.steps
calls.update(tokens=0)
with profile(activities=[ProfilerActivity.CUDA]) as prof:
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()
prof_tokens = calls["tokens"] / args.steps


def kind(name: str) -> str:
    n = name.lower()
    if "flash" in n or "fmha" in n or "attention" in n or "sdpa" in n:
        return "attention"
    if "gemm" in n or "cutlass" in n or "sm90" in n or "nvjet" in n or "matmul" in n or "gemv" in n:
        return "matmul"
    if "adam" in n or "multi_tensor" in n or "foreach" in n:
        return "optimizer"
    if "logp_grad" in n:
        return "cross-entropy (fused_ce.py)"
    if "triton" in n:
        return "triton (fused elementwise/norm)"
    if "copy" in n or "memcpy" in n or "memset" in n or "cat" in n:
        return "copies"
    return "other elementwise/reduce"


groups, top = defaultdict(float), []
for e in prof.key_averages():
    t = getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0)
    if t <= 0 or e.key.startswith("ProfilerStep"):
        continue
    groups[kind(e.key)] += t
    top.append((t, e.count, e.key[:110]))
total = sum(groups.values())
per_step_ms = total / 1000 / args.steps
result = {
    "per_step_gpu_ms": per_step_ms,
    "per_step_wall_ms": wall_ms,
    "per_step_collate_ms": host_ms,
    "tokens_per_step": prof_tokens,
    "wall_tokens_per_s": wall_tokens / wall_ms * 1000,
    "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
    "data": args.data,
    "budget": args.budget,
    "gpu": torch.cuda.get_device_name(),
    "groups_ms_per_step": {k: v / 1000 / args.steps for k, v in groups.items()},
    "top": [{"ms_per_step": t / 1000 / args.steps, "calls_per_step": c / args.steps, "kernel": k} for t, c, k in sorted(top, reverse=True)[:40]],
}
OUT.mkdir(parents=True, exist_ok=True)
(
    OUT / f"lm_profile-{args.method}{'-peft' if args.peft_lora else ''}{'-eager' if args.no_compile else ''}{'-packed' if META else ''}{args.tag}.json"
).write_text(json.dumps(result, indent=1))
print(
    f"\n{args.method} {'eager' if args.no_compile else 'compiled'}{' packed' if META else ''}: GPU busy {per_step_ms:.1f} ms a step, {wall_ms:.1f} ms wall"
    f" ({host_ms:.1f} collating), {result['wall_tokens_per_s']:.0f} tokens/s wall, {prof_tokens / per_step_ms * 1000:.0f} if never idle, peak {result['peak_gib']:.2f} GiB"
)
print("| kind | ms a step | share |")
print("|---|---:|---:|")
for k, v in sorted(groups.items(), key=lambda kv: -kv[1]):
    print(f"| {k} | {v / 1000 / args.steps:.1f} | {100 * v / total:.1f}% |")
print("\n| kernel | ms a step | calls a step |")
print("|---|---:|---:|")
for t, c, k in sorted(top, reverse=True)[:25]:
    print(f"| {k} | {t / 1000 / args.steps:.2f} | {c / args.steps:.0f} |")
