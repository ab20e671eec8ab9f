"""Where the GPU waits during the engine's own LoRA loop (device; run after bench/gpu/lm_speed.py
made the model and data). Runs lm_train.run in this process on lm_speed's job, profiles a few
steps after warm-up (an optimizer-step hook drives the profiler), and reports the idle gaps
between kernels: their total a step, and the CPU work going on when each gap ended.
  python3 bench/gpu/lm_gaps.py [--batch 8] [--seq 2048]
"""

import argparse
import io
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "engine"))
from hone_engine.protocol import Channel  # noqa: E402
from hone_engine.recipes import lm_train  # noqa: E402
from lm_job import shard_ref, train_job  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=8)
p.add_argument("--seq", type=int, default=2048)
p.add_argument("--wait", type=int, default=10)
p.add_argument("--active", type=int, default=4)
args = p.parse_args()
OUT = Path(os.environ.get("OUT", ROOT / "bench" / "out"))
OUT.mkdir(parents=True, exist_ok=True)
WORK = Path("/tmp/hone-lm-speed")
data = WORK / "data"
count = (data / "train.offsets.u32").stat().st_size // 4 - 1
job = train_job(WORK / "run-gaps", WORK / "llama-1b", shard_ref(data, count), args.batch, args.wait + 2 + args.active + 1)
read_end, write_end = os.pipe()  # stdin kept open for the whole run: EOF would mean "stop"
channel = Channel(stdin=os.fdopen(read_end), stdout=io.StringIO())

from torch.profiler import ProfilerActivity, profile, schedule  # noqa: E402

trace = OUT / "lm_gaps_trace.json"
prof = profile(
    activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA],
    schedule=schedule(wait=args.wait, warmup=2, active=args.active, repeat=1),
    on_trace_ready=lambda pr: pr.export_chrome_trace(str(trace)),
)
from torch.optim.optimizer import register_optimizer_step_post_hook  # noqa: E402

register_optimizer_step_post_hook(lambda *a: prof.step())
prof.start()
lm_train.run(job, channel)
prof.stop()

events = json.loads(trace.read_text())["traceEvents"]
gpu = sorted((e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset") and "dur" in e), key=lambda e: e["ts"])
launch = {e["args"].get("correlation"): e for e in events if e.get("cat") == "cuda_runtime" and "args" in e}
cpu_ops = sorted((e for e in events if e.get("cat") in ("cpu_op", "python_function", "user_annotation") and "dur" in e), key=lambda e: e["ts"])
runtime_calls = defaultdict(int)
for e in events:
    if e.get("cat") == "cuda_runtime":
        runtime_calls[e["name"]] += 1


cpu_ops = [e for e in cpu_ops if not e["name"].startswith("ProfilerStep")]
op_start = np.array([e["ts"] for e in cpu_ops])
op_end = op_start + np.array([e["dur"] for e in cpu_ops])


def enclosing(ts: float) -> str:
    """The innermost CPU ops open at ts (names, outermost first)."""
    open_ = [cpu_ops[i] for i in np.nonzero((op_start <= ts) & (op_end >= ts))[0]]
    open_.sort(key=lambda e: -e["dur"])
    return " > ".join(e["name"][:40] for e in open_[-3:])


gaps, end, busy = defaultdict(lambda: [0.0, 0]), gpu[0]["ts"], 0.0
for k in gpu:
    if k["ts"] > end + 5:  # µs
        lt = launch.get(k["args"].get("correlation"))
        where = f"{k['name'][:50]} | {enclosing(lt['ts']) if lt else '?'}"
        gaps[where][0] += k["ts"] - end
        gaps[where][1] += 1
    busy += max(0.0, k["ts"] + k["dur"] - max(end, k["ts"]))
    end = max(end, k["ts"] + k["dur"])
span = end - gpu[0]["ts"]
idle = sum(g[0] for g in gaps.values())
steps = args.active
result = {
    "span_ms_per_step": span / 1000 / steps,
    "gpu_busy_ms_per_step": busy / 1000 / steps,
    "idle_ms_per_step": idle / 1000 / steps,
    "gaps": sorted(([v[0] / 1000 / steps, v[1] / steps, k] for k, v in gaps.items()), reverse=True)[:25],
    "runtime_calls_per_step": {k: v / steps for k, v in sorted(runtime_calls.items(), key=lambda kv: -kv[1])[:25]},
}
(OUT / "lm_gaps.json").write_text(json.dumps(result, indent=1))
trace.unlink()  # large; the summary is what comes back
print(f"engine loop: {result['span_ms_per_step']:.1f} ms a step, GPU busy {result['gpu_busy_ms_per_step']:.1f}, idle {result['idle_ms_per_step']:.1f}")
print("| idle ms a step | gaps a step | the kernel after the gap, and the CPU ops launching it |\n|---:|---:|---|")
for t, n, k in result["gaps"][:20]:
    print(f"| {t:.2f} | {n:.1f} | {k} |")
print("\nCUDA runtime calls a step:", json.dumps(result["runtime_calls_per_step"]))
