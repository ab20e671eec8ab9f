"""Kernel-level timings behind the engine's LoRA step on the 1.2B Llama benchmark (device, GPU only).

  ce     log p and gradient of a 4096 x 128256 bf16 logits chunk: torch.compile of the plain
         expression (what lm.py ran before) vs the Triton kernel (fused_ce.py) in a few shapes
  lora   forward + backward of the one-matmul LoRA layer (fused_lora.py) for one decoder layer's
         projections, one by one vs grouped (q/k/v as one matmul, gate/up as one), and the plain
         frozen matmuls alone, with the FLOPs each would take at the measured bf16 peak
Prints tables; writes $OUT/kernels_probe.json.
  python3 bench/gpu/kernels_probe.py
"""

import json
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "engine"))
from hone_engine import fused_ce, fused_lora, lm  # noqa: E402

OUT = Path(os.environ.get("OUT", ROOT / "bench" / "out"))
OUT.mkdir(parents=True, exist_ok=True)
dev = "cuda"
results = {"gpu": torch.cuda.get_device_name(0)}


def timed(fn, reps=20, warm=3) -> float:
    """ms per call, CUDA events around reps calls."""
    for _ in range(warm):
        fn()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(reps):
        fn()
    b.record()
    torch.cuda.synchronize()
    return a.elapsed_time(b) / reps


x = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
peak = 2 * 8192**3 / (timed(lambda: x @ x) / 1000)
results["peak_tflops"] = peak / 1e12
del x

# ---- ce ----
torch.manual_seed(0)
rows, V = 4096, 128256
logits = (torch.randn(rows, V, device=dev) * 3).to(torch.bfloat16)
targets = torch.randint(0, V, (rows,), device=dev)
compiled = torch.compile(lm._logp_and_grad, dynamic=True)
ref_logp, ref_grad = compiled(logits, targets)
ce = {"compiled_ms": timed(lambda: compiled(logits, targets)), "bytes_one_pass": logits.numel() * 2}
for block, warps, per_sm in [(4096, 16, 1), (4096, 8, 2), (8192, 16, 1), (2048, 8, 4), (2048, 4, 4), (1024, 4, 8), (4096, 8, 4)]:
    work = logits.clone()
    logp, grad = fused_ce.logp_and_grad_(work, targets, block=block, num_warps=warps, per_sm=per_sm)
    err_logp = (logp - ref_logp).abs().max().item()
    err_grad = (grad.float() - ref_grad.float()).abs().max().item()
    ms = timed(lambda: fused_ce.logp_and_grad_(work, targets, block=block, num_warps=warps, per_sm=per_sm))
    ce[f"triton_b{block}_w{warps}_x{per_sm}"] = {
        "ms": ms,
        "max_err_logp": err_logp,
        "max_err_grad": err_grad,
        "read_write_tb_s": 3 * logits.numel() * 2 / ms / 1e9,
    }
results["ce"] = ce
logits = ref_grad = work = grad = None
torch.cuda.empty_cache()

# ---- lora ----
N, d, kv, ffn, r, s = 16384, 2048, 512, 8192, 16, 2.0


def layer(n_in, n_out, rank):
    return (
        torch.randn(n_out, n_in, device=dev, dtype=torch.bfloat16) * 0.02,
        (torch.randn(rank, n_in, device=dev) * 0.02).requires_grad_(),
        (torch.randn(n_out, rank, device=dev) * 0.02).requires_grad_(),
    )


def fwd_bwd(x, specs):
    def run():
        for w, a, b in specs:
            y = fused_lora.lora_matmul(x, w, a, b, s)
            y.backward(torch.ones_like(y))

    return run


def plain(x, specs):
    def run():
        for w, _, _ in specs:
            y = x @ w.t()
            torch.ones_like(y) @ w

    return run


x = torch.randn(N, d, device=dev, dtype=torch.bfloat16, requires_grad=True)
h = torch.randn(N, ffn, device=dev, dtype=torch.bfloat16, requires_grad=True)
cases = {
    "qkv one by one": (x, [layer(d, d, r), layer(d, kv, r), layer(d, kv, r)]),
    "qkv grouped": (x, [layer(d, d + 2 * kv, 3 * r)]),
    "o": (x, [layer(d, d, r)]),
    "gate/up one by one": (x, [layer(d, ffn, r), layer(d, ffn, r)]),
    "gate/up grouped": (x, [layer(d, 2 * ffn, 2 * r)]),
    "down": (h, [layer(ffn, d, r)]),
}
lora = {}
with torch.autocast("cuda", dtype=torch.bfloat16):
    for name, (inp, specs) in cases.items():
        flops = sum(4 * N * w.shape[0] * w.shape[1] for w, _, _ in specs)  # forward + input gradient
        lora[name] = {"lora_ms": timed(fwd_bwd(inp, specs), reps=10), "frozen_only_ms": timed(plain(inp, specs), reps=10), "at_peak_ms": flops / peak * 1000}
results["lora"] = lora

(OUT / "kernels_probe.json").write_text(json.dumps(results, indent=1))
print(f"{results['gpu']}: bf16 matmul peak {peak / 1e12:.0f} TFLOP/s\n")
print(f"cross-entropy chunk {rows} x {V}: compiled {ce['compiled_ms']:.3f} ms")
print("| kernel | ms | TB/s (2 reads + 1 write) | max err logp | max err grad |\n|---|---:|---:|---:|---:|")
for k, v in ce.items():
    if k.startswith("triton"):
        print(f"| {k} | {v['ms']:.3f} | {v['read_write_tb_s']:.2f} | {v['max_err_logp']:.2e} | {v['max_err_grad']:.2e} |")
print("\none decoder layer's projections, forward + input/adapter gradients, 16384 tokens")
print("| case | LoRA ms | frozen matmuls only ms | at peak ms |\n|---|---:|---:|---:|")
for k, v in lora.items():
    print(f"| {k} | {v['lora_ms']:.3f} | {v['frozen_only_ms']:.3f} | {v['at_peak_ms']:.3f} |")
