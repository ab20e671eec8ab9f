"""Inference speed of a Hone checkpoint in PyTorch eager (the reference of `hone export
--compare`): latency at batch 1 and throughput at a given batch size on a token shard, with
the same batching as the Node runtime (longest first). Tokenization is not timed here."""

import time

import numpy as np
import torch

from ..classify import data as shards
from ..classify.model import build, load_weights


@torch.no_grad()
def run(job: dict, channel) -> None:
    torch.set_num_threads(job["threads"])
    model = build(job["model"], job["heads"], pretrained=False)
    load_weights(model, job["weights"], strict=True)
    model.eval()
    shard = shards.load(job["data"], job["heads"])
    pad = job["model"]["pad_token_id"]

    def call(idx):
        b = shards.collate(shard, np.asarray(idx), pad)
        model(b["input_ids"], b["attention_mask"])

    n = min(job["latency_samples"], shard.count)
    for i in range(min(5, n)):  # warm-up: first calls allocate
        call([i])
    latency = []
    for i in range(n):
        t0 = time.perf_counter()
        call([i])
        latency.append((time.perf_counter() - t0) * 1000)
    order = np.argsort(-shard.lengths, kind="stable")
    bs = job["batch_size"]
    t0 = time.perf_counter()
    for s in range(0, shard.count, bs):
        call(order[s : s + bs])
    elapsed = time.perf_counter() - t0
    channel.emit("timing", latency_ms=latency, samples_per_s=shard.count / elapsed, count=int(shard.count))
    channel.emit("done", step=0, reason="completed", runtime_s=elapsed)
