"""Logits of a classifier on a shard, batched over examples sorted by length."""

import numpy as np
import torch
import torch.nn.functional as F

from . import data as shards


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
