"""The contrastive stage of a few-shot classifier (SetFit's): pairs of training examples, chosen
by the orchestrator, whose embeddings' cosine similarity learns to be 1 (a label in common) or
0 (none), the loss being the squared difference (sentence-transformers' CosineSimilarityLoss)."""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..protocol import EngineError
from . import data as shards


@dataclass
class Pairs:
    index: np.ndarray  # int64 [count, 2]: train-shard examples
    similar: np.ndarray  # float32 [count]: the target cosine similarity


def load(stage: dict) -> Pairs:
    try:
        index = np.fromfile(stage["pairs"], dtype="<i4").astype(np.int64)
        similar = np.fromfile(stage["similar"], dtype="<f4")
    except OSError as e:
        raise EngineError("data", f"cannot read the contrastive pairs: {e}") from None
    n = stage["count"]
    if index.size != 2 * n or similar.size != n:
        raise EngineError("data", f"contrastive pairs: {index.size // 2} pairs and {similar.size} targets, expected {n}")
    return Pairs(index.reshape(n, 2), similar)


def optim(stage: dict, opt: dict) -> dict:
    """The stage's schedule: its own rate and warmup, one pass over the pairs in their order
    (the orchestrator wrote every epoch's pairs, shuffled), one micro-batch per step."""
    steps = math.ceil(stage["count"] / stage["batch_size"])
    if steps != stage["steps"]:
        raise EngineError("bad_job", f"contrastive steps is {stage['steps']}, {stage['count']} pairs in batches of {stage['batch_size']} give {steps}")
    return opt | {
        "lr": stage["lr"],
        "warmup_steps": stage["warmup_steps"],
        "batch_size": stage["batch_size"],
        "grad_accum": 1,
        "steps_per_epoch": steps,
        "total_steps": steps,
    }


def batches(pairs: Pairs, batch_size: int) -> list:
    n = len(pairs.similar)
    return [np.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def accumulate(model, train, pairs: Pairs, group: list, pad_id: int, device, autocast) -> tuple:
    """One step: both texts of every pair through the encoder in one batch, the mean squared
    error between their cosine similarity and the target."""
    (idx,) = group
    n = len(idx)
    batch = shards.collate(train, np.concatenate([pairs.index[idx, 0], pairs.index[idx, 1]]), pad_id)
    with autocast:
        emb = model.embed(batch["input_ids"].to(device), batch["attention_mask"].to(device))
    emb = emb.float()
    cos = F.cosine_similarity(emb[:n], emb[n:], dim=-1)
    loss = F.mse_loss(cos, torch.from_numpy(pairs.similar[idx]).to(device))
    loss.backward()
    return loss.detach(), batch["tokens"], n
