"""The LmTrainJob the GPU benches hand the engine (the one `hone train` writes for these settings)."""

import math
from pathlib import Path


def shard_ref(data: Path, count: int) -> dict:
    """lm_speed.py's token shard: `count` rows, one sequence each."""
    return {
        "tokens": str(data / "train.tokens.u32"),
        "offsets": str(data / "train.offsets.u32"),
        "count": count,
        "loss_mask": str(data / "train.mask.u8"),
        "rows": None,
    }


def train_job(
    run_dir: Path,
    model_dir: Path,
    shard: dict,
    batch: int,
    total_steps: int,
    method="lora",
    compile_=True,
    dtype="bf16",
    cuda=True,
    fsdp=False,
    targets="all-linear",
    checkpointing=False,
    offload=False,
    budget=1.0,
) -> dict:
    return {
        "kind": "lm.train",
        "protocol_version": 1,
        "run_dir": str(run_dir),
        "objective": "sft",
        "model": {"path": str(model_dir), "adapter": None, "architecture": "causal", "head": "lm", "dtype": dtype, "pad_token_id": 0},
        "adapter": {"method": method, "r": 16, "alpha": 32, "dropout": 0.0, "target_modules": targets},
        "data": {"train": shard, "validation": None},
        "optim": {
            "seed": 0,
            "lr": 1e-4 if method != "none" else 1e-5,
            "weight_decay": 0.0,
            "betas": [0.9, 0.999],
            "eps": 1e-8,
            "max_grad_norm": 1.0,
            "scheduler": "constant",
            "warmup_steps": 0,
            "batch_size": batch,
            "grad_accum": 1,
            "steps_per_epoch": math.ceil((shard["rows"]["count"] if shard["rows"] else shard["count"]) / batch),
            "total_steps": total_steps,
            "eval_batch_size": batch,
        },
        "freeze": {"embeddings": False, "layers": 0, "patterns": []},
        "dpo": {"loss": "dpo", "beta": 0.1, "gamma_beta_ratio": 0.5, "desirable_weight": 1.0, "undesirable_weight": 1.0},
        "eval_every": 10**6,
        "runtime": {
            "device": "cuda" if cuda else "cpu",
            "precision": "bf16" if cuda else "fp32",
            "threads": None if cuda else 2,
            "compile": compile_,
            "gradient_checkpointing": checkpointing,
            "processes": 1,
            "nodes": 1,
            "fsdp": fsdp,
            "optimizer_offload": offload,
            "activation_budget": budget,
        },
        "resume_from": None,
        "eval_first": False,
    }
