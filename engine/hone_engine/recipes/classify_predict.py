"""Logits of a Hone classifier checkpoint on a token shard (test split, `hone predict`)."""
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import runtime, shards
from ..model import build, load_weights


@torch.no_grad()
def predict_logits(model, shard, heads, pad_id, batch_size, device, autocast):
    """Logits per head in the shard's order, and the mean loss if the shard has labels.
    Batches are formed over examples sorted by length, so padding is minimal."""
    model.eval()
    order = np.argsort(-shard.lengths, kind="stable")
    out = {h["name"]: np.zeros((shard.count, h["num_labels"]), dtype=np.float32) for h in heads}
    loss_sum, labelled = 0.0, all(h["name"] in shard.labels for h in heads)
    for i in range(0, shard.count, batch_size):
        idx = order[i : i + batch_size]
        batch = shards.collate(shard, idx, pad_id)
        with autocast:
            logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        for h in heads:
            lg = logits[h["name"]].float()
            out[h["name"]][idx] = lg.cpu().numpy()
            if labelled:
                y = batch["labels"][h["name"]].to(device)
                if h["multi_label"]:
                    loss_sum += h["loss_weight"] * F.binary_cross_entropy_with_logits(lg, y, reduction="none").mean(-1).sum().item()
                else:
                    loss_sum += h["loss_weight"] * F.cross_entropy(lg, y, reduction="sum", ignore_index=-1).item()
    return out, (loss_sum / max(1, shard.count) if labelled else None)


def write_logits(directory: Path, logits: dict) -> dict:
    """float32 row-major files, one per head, each renamed into place once complete."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, array in logits.items():
        final = directory / f"{name}.logits.f32"
        tmp = directory / f".{name}.logits.f32.tmp"
        with open(tmp, "wb") as f:
            f.write(np.ascontiguousarray(array, dtype="<f4").tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        paths[name] = str(final)
    return paths


def run(job: dict, channel) -> None:
    device, autocast = runtime.setup(job["runtime"])
    model = build(job["model"], job["heads"], pretrained=False)
    load_weights(model, job["weights"], strict=True)
    model.to(device)
    shard = shards.load(job["data"], job["heads"])
    t0 = time.time()
    logits, _ = predict_logits(model, shard, job["heads"], job["model"]["pad_token_id"], job["batch_size"], device, autocast)
    elapsed = time.time() - t0
    paths = write_logits(Path(job["output_dir"]), logits)
    channel.emit("predictions", logits=paths, count=shard.count, samples_per_s=shard.count / max(elapsed, 1e-9))
    channel.emit("done", step=0, reason="completed", runtime_s=elapsed)
