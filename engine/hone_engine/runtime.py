"""What every recipe sets up the same way: device, threads, precision, and Ctrl-C handling."""

import os
from contextlib import nullcontext

import torch

from . import interrupts
from .protocol import launch_rank


def setup(rt: dict):
    """(device, autocast context) for a job's RuntimeSpec. bf16 autocast keeps fp32 master
    weights; fp32 on CPU, where bf16 matmuls are slow."""
    device = torch.device(rt["device"])
    if device.type == "cuda":
        from .testing import memory_history

        memory_history.start()  # only with HONE_CUDA_MEMORY_HISTORY set (probes)
    if rt["threads"] is not None:
        torch.set_num_threads(rt["threads"])
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if rt["precision"] == "bf16" else nullcontext()
    return device, autocast


def peak_memory(device: torch.device) -> dict:
    """The peaks this process reached so far: on a GPU, the caching allocator's (tensors
    allocated, and memory reserved from the driver: what nvidia-smi shows, less the CUDA
    context); everywhere, the process's resident set (the CPU side: weights, data, libraries)."""
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    if device.type == "cuda":
        return {
            "device": "cuda",
            "allocated_bytes": torch.cuda.max_memory_allocated(device),
            "reserved_bytes": torch.cuda.max_memory_reserved(device),
            "rss_bytes": rss,
        }
    return {"device": "cpu", "allocated_bytes": None, "reserved_bytes": None, "rss_bytes": rss}


def interrupt_flag() -> dict:
    """Ctrl-C / SIGTERM set flag["set"]: the loop finishes its step, saves a checkpoint and exits.
    A Ctrl-C that came while the engine started (interrupts.py caught it) is already set."""
    return interrupts.catch(sigterm=True)


def repeated_blocks(module: torch.nn.Module):
    """The model's largest stack of repeated layers (BERT's encoder.layer, Llama's model.layers), or None."""
    stacks = [m for m in module.modules() if isinstance(m, torch.nn.ModuleList) and len(m) > 1]
    return max(stacks, key=lambda m: sum(p.numel() for p in m.parameters())) if stacks else None


def compile_blocks(module: torch.nn.Module, dynamic=None) -> None:
    """torch.compile each of the model's repeated layers, in place, so parameter names and checkpoints
    stay the same. Identical blocks share one compiled graph, so compilation costs about one block
    instead of the whole model (on bert-base, seconds rather than minutes); embeddings, masks and heads
    stay eager, where transformers can still tell that a batch needs no attention mask. No stack
    found: the whole module."""
    blocks = repeated_blocks(module)
    if blocks is None:
        module.compile(dynamic=dynamic)
        return
    for block in blocks:
        block.compile(dynamic=dynamic)


class Ranks:
    """One process of a torchrun job (or the only process): rank 0 talks to the orchestrator,
    evaluates and checkpoints; gradients are summed over all of them after each backward pass."""

    def __init__(self, rt: dict):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = launch_rank()
        self.local = int(os.environ.get("LOCAL_RANK", "0"))
        self.nodes = rt.get("nodes", 1)
        if self.world != rt["processes"] * self.nodes:
            from .protocol import EngineError

            raise EngineError("bad_job", f"the job is for {rt['processes']} process(es) on each of {self.nodes} node(s), this is one of {self.world}")
        self.sharded = bool(rt.get("fsdp"))
        self.grouped = self.world > 1 or self.sharded  # FSDP needs a process group, even of one
        if self.grouped:
            import torch.distributed as dist

            if rt["device"] == "cuda":
                torch.cuda.set_device(self.local)
            backend = "nccl" if rt["device"] == "cuda" else "gloo"
            if self.nodes > 1:
                dist.init_process_group(backend=backend, store=_node_store(self.rank), rank=self.rank, world_size=self.world)
            elif self.world > 1:
                dist.init_process_group(backend=backend)
            else:  # one process, not started by torchrun: an in-memory rendezvous
                dist.init_process_group(backend=backend, store=dist.HashStore(), rank=0, world_size=1)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def joins_rank0(self) -> bool:
        """Takes part in rank 0's evaluation and checkpoint: rank 0 itself, and under FSDP every
        rank, since a forward pass or a gathered checkpoint needs all of the shards."""
        return self.main or self.sharded

    def device(self, device):
        return torch.device("cuda", self.local) if device.type == "cuda" and self.world > 1 else device

    def sum_gradients(self, params) -> None:
        """All-reduce every gradient in one flat buffer per dtype (one collective, not hundreds).
        Under FSDP the backward pass has already reduce-scattered them."""
        if self.world == 1 or self.sharded:
            return
        import torch.distributed as dist
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        grads = [p.grad for p in params if p.grad is not None]
        for dtype in {g.dtype for g in grads}:
            same = [g for g in grads if g.dtype == dtype]
            flat = _flatten_dense_tensors(same)
            dist.all_reduce(flat)
            for g, reduced in zip(same, _unflatten_dense_tensors(flat, same)):
                g.copy_(reduced)

    def agree(self, value: str) -> str:
        """Rank 0's decision (continue / stop / interrupt), the same on every rank."""
        if self.world == 1:
            return value
        import torch.distributed as dist

        box = [value if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def adopt_head(self, job: dict) -> dict:
        """Several nodes: every node's orchestrator built its job from its own copy of the config
        and data, but only the head's knows the run (its checkpoint to resume from, whether to
        evaluate it first). The job's settings must be the same on every node (else: an error
        naming what differs); the head's resume point is everyone's."""
        if self.nodes == 1:
            return job
        import torch.distributed as dist

        # One process a node reads and hashes the shards: its node's others share its files.
        mine = job_fingerprint(job) if self.local == 0 else None
        every: list = [None] * self.world
        dist.all_gather_object(every, mine)
        for r, theirs in enumerate(every):
            if theirs is None:
                continue
            differ = sorted(k for k in theirs if theirs.get(k) != every[0].get(k))
            if differ:
                from .protocol import EngineError

                raise EngineError(
                    "bad_job",
                    f"node {r // (self.world // self.nodes)} was started with other {', '.join(differ)} than the head: run the same config and data on every node",
                )
        box = [{"resume_from": job["resume_from"], "eval_first": job["eval_first"]} if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return {**job, "eval_first": box[0]["eval_first"], "head_resume_from": box[0]["resume_from"]}

    def close(self) -> None:
        if self.grouped:
            import torch.distributed as dist

            dist.destroy_process_group()


def _node_store(rank: int):
    """The key-value store of a job over several nodes: torchrun's agent store (every node's
    workers reach it at MASTER_ADDR:MASTER_PORT), under a prefix of its own per restart, since the
    ranks Hone gives differ from the ones torchrun's rendezvous wrote there. Two nodes started
    with the same node rank are refused here, before they wait on each other for ever."""
    from datetime import timedelta

    import torch.distributed as dist

    from .protocol import EngineError

    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    base = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=not agent and rank == 0, timeout=timedelta(minutes=30))
    store = dist.PrefixStore(f"hone/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", base)
    if store.add(f"rank/{rank}", 1) > 1:
        raise EngineError("bad_job", f"two nodes were started with node rank {os.environ['HONE_NODE_RANK']}: give each node its own (0 for the head)")
    return store


def job_fingerprint(job: dict) -> dict:
    """What must be the same on every node of a job, each part hashed: the settings, and the
    training and validation tokens themselves (files that each node wrote from its own copy of
    the data). Paths differ between machines and are left out."""
    import hashlib
    import json
    from pathlib import Path

    def digest(x) -> str:
        return hashlib.sha256(json.dumps(x, sort_keys=True).encode()).hexdigest()

    def files(shard: dict | None) -> str:
        if shard is None:
            return "none"
        h = hashlib.sha256()
        for key in sorted(k for k, v in shard.items() if isinstance(v, str) and Path(v).is_file()):
            h.update(Path(shard[key]).read_bytes())
        return h.hexdigest()

    model = {k: v for k, v in job["model"].items() if k not in ("path", "adapter")}
    settings = {k: job[k] for k in job if k not in ("run_dir", "model", "data", "resume_from", "eval_first")}
    settings["runtime"] = {k: v for k, v in job["runtime"].items() if k != "threads"}  # each machine its own cores
    return {
        "settings": digest(settings),
        "model": digest(model),
        "training data": files(job["data"]["train"]),
        "validation data": files(job["data"]["validation"]),
    }
