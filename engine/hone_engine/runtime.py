"""What every recipe sets up the same way: device, threads, precision, and Ctrl-C handling."""

from contextlib import nullcontext

import torch

from . import interrupts


def setup(rt: dict):
    """(device, autocast context) for a job's RuntimeSpec. bf16 autocast keeps fp32 master
    weights; fp32 on CPU, where bf16 matmuls are slow."""
    device = torch.device(rt["device"])
    if rt["threads"] is not None:
        torch.set_num_threads(rt["threads"])
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if rt["precision"] == "bf16" else nullcontext()
    return device, autocast


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
        import os

        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world != rt["processes"]:
            from .protocol import EngineError

            raise EngineError("bad_job", f"the job is for {rt['processes']} process(es), this is one of {self.world}")
        self.sharded = bool(rt.get("fsdp"))
        self.grouped = self.world > 1 or self.sharded  # FSDP needs a process group, even of one
        if self.grouped:
            import torch.distributed as dist

            if rt["device"] == "cuda":
                torch.cuda.set_device(self.local)
            backend = "nccl" if rt["device"] == "cuda" else "gloo"
            if self.world > 1:
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

    def close(self) -> None:
        if self.grouped:
            import torch.distributed as dist

            dist.destroy_process_group()
