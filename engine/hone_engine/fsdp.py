"""FSDP2: parameters, gradients and optimizer state sharded over torchrun's processes.

One shard unit per repeated layer (the stack compile_blocks finds) and the rest at the root, as
torchtitan does: a layer's parameters are all-gathered just before it runs and freed after it.
Frozen base weights (bf16 under adapters) and trained fp32 adapters may share a unit; FSDP only
needs the trained ones to agree on a dtype. Checkpoints keep the one-process format: every rank
takes part in gathering full tensors, rank 0 writes them, and a resumed run slices them back.
"""

import torch
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor
from torch.distributed.tensor.experimental import implicit_replication

from . import runtime


def shard(model: torch.nn.Module) -> None:
    """Shard a *ForCausalLM in place: each decoder layer a unit, the rest (embeddings, final norm,
    output layer, tied or not) the root, through whose forward every step must enter (lm.py).
    FSDP averages gradients over processes; the loop wants their sum (each step's loss is already
    divided by its learnt tokens over all processes), so it scales its loss by the world size.
    (set_gradient_divide_factor(1) would say the same, but gloo cannot reduce with a factor.)"""
    blocks = runtime.repeated_blocks(model)
    for unit in [*(blocks if blocks is not None else []), model]:
        fully_shard(unit)


def full_state_dict(model: torch.nn.Module, trained_only: bool) -> dict:
    """The model's weights, whole, on rank 0's CPU (empty on the others); trained_only: just the
    trained ones (an adapter), not the frozen base. Every rank must call it."""
    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=trained_only))


def loading_full_tensors():
    """Context in which load_state_dict copies whole (unsharded) tensors into shards: each rank keeps its slice."""
    return implicit_replication()


def value(t: torch.Tensor) -> torch.Tensor:
    """A plain tensor: a DTensor's full value (a collective), anything else as it is."""
    return t.full_tensor() if isinstance(t, DTensor) else t
