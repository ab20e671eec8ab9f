"""What GPU memory held at its peak, by where it was allocated (benchmarks: HONE_CUDA_MEMORY_HISTORY).

With HONE_CUDA_MEMORY_HISTORY=<file.json> set, a job records the caching allocator's history
(every allocation and free, with its Python stack) from its start, and at exit replays it: the
moment the allocated bytes peaked, and the blocks alive then, grouped by the engine's (or the
model code's) innermost frame. It answers what `hone train --dry-run`'s memory estimate missed.
Recording slows a step; it is for probes, never for timed runs."""

import atexit
import json
import os
from collections import defaultdict

import torch

# The frames that say what a block is for, innermost first: the engine's own code, then the model's
# and the libraries it runs through.
_OURS = ("hone_engine",)
_THEIRS = ("transformers/", "peft/", "torch/_inductor", "torchinductor_", "torch/nn/", "torch/optim/")


def start() -> None:
    path = os.environ.get("HONE_CUDA_MEMORY_HISTORY")
    if not path or not torch.cuda.is_available():
        return
    torch.cuda.memory._record_memory_history(enabled="all", context="alloc", stacks="python", max_entries=4_000_000)
    atexit.register(lambda: _write(path))


def _where(frames: list) -> str:
    for marks in (_OURS, _THEIRS):
        for f in frames:
            if any(m in f["filename"] for m in marks):
                return f"{f['filename'].split('site-packages/')[-1].split('/work/')[-1]}:{f['line']} {f['name']}"
    return "other"


def at_peak(events: list) -> dict:
    """Replays alloc / free events: the peak of allocated bytes, the event at which it came, and
    the blocks alive then grouped by where they were allocated (largest first)."""
    alive, total, peak, when = {}, 0, 0, -1
    for i, e in enumerate(events):
        if e["action"] == "alloc":
            alive[e["addr"]] = e["size"]
            total += e["size"]
            if total > peak:
                peak, when = total, i
        elif e["action"] in ("free_requested", "free_completed") and e["addr"] in alive:
            total -= alive.pop(e["addr"])
    # Second pass up to the peak: the blocks alive there (one copy, not one per new maximum).
    alive = {}
    for e in events[: when + 1]:
        if e["action"] == "alloc":
            alive[e["addr"]] = e
        elif e["action"] in ("free_requested", "free_completed"):
            alive.pop(e["addr"], None)
    groups = defaultdict(lambda: [0, 0])
    for e in alive.values():
        g = groups[_where(e.get("frames") or [])]
        g[0] += e["size"]
        g[1] += 1
    ranked = sorted(groups.items(), key=lambda kv: -kv[1][0])
    return {
        "peak_bytes": peak,
        "peak_event": when,
        "events": len(events),
        "by_place": [{"where": w, "bytes": b, "blocks": n} for w, (b, n) in ranked],
        "largest_blocks": [{"bytes": e["size"], "where": _where(e.get("frames") or [])} for e in sorted(alive.values(), key=lambda x: -x["size"])[:40]],
    }


def _write(path: str) -> None:
    snap = torch.cuda.memory._snapshot()
    events = [e for trace in snap["device_traces"] for e in trace]
    report = {**at_peak(events), "max_memory_allocated": torch.cuda.max_memory_allocated()}
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
