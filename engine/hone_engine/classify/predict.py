"""Logits of a classifier on a shard, batched over examples sorted by length."""

import numpy as np
import torch
import torch.nn.functional as F

from . import data as shards


@torch.no_grad()
def predict_logits(model, shard, heads, pad_id, batch_size, device, autocast):
    """Logits per head in the shard's order (a token head: one row per token of the shard), and the
    mean loss if the shard has labels (per example for sequence heads, per tagged token for token
    heads). Batches are formed over examples sorted by length, so padding is minimal."""
    model.eval()
    order = np.argsort(-shard.lengths, kind="stable")
    rows = {"sequence": shard.count, "token": len(shard.tokens), "span": len(shard.tokens)}
    out = {h["name"]: np.zeros((rows[h["level"]], h["num_labels"]), dtype=np.float32) for h in heads}
    loss_sum, labelled = 0.0, all(h["name"] in shard.labels for h in heads)
    token_loss, tagged = 0.0, 0
    for i in range(0, shard.count, batch_size):
        idx = order[i : i + batch_size]
        batch = shards.collate(shard, idx, pad_id, model.token_heads)
        with autocast:
            logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        for h in heads:
            lg = logits[h["name"]].float()
            if h["level"] in ("token", "span"):
                lg_np = lg.cpu().numpy()
                for row, k in enumerate(idx):
                    s, e = int(shard.offsets[k]), int(shard.offsets[k + 1])
                    out[h["name"]][s:e] = lg_np[row, : e - s]
                if labelled and h["level"] == "span":
                    y = batch["labels"][h["name"]].to(device)
                    both = F.cross_entropy(lg[..., 0], y[:, 0], reduction="sum") + F.cross_entropy(lg[..., 1], y[:, 1], reduction="sum")
                    loss_sum += h["loss_weight"] * both.item() / 2
                elif labelled:
                    y = batch["labels"][h["name"]].to(device)
                    token_loss += h["loss_weight"] * F.cross_entropy(lg.flatten(0, 1), y.flatten(), reduction="sum", ignore_index=-1).item()
                    tagged += int((y >= 0).sum())
                continue
            out[h["name"]][idx] = lg.cpu().numpy()
            if labelled:
                y = batch["labels"][h["name"]].to(device)
                if h["multi_label"]:
                    loss_sum += h["loss_weight"] * F.binary_cross_entropy_with_logits(lg, y, reduction="none").mean(-1).sum().item()
                else:
                    loss_sum += h["loss_weight"] * F.cross_entropy(lg, y, reduction="sum", ignore_index=-1).item()
    if not labelled:
        return out, None
    return out, loss_sum / max(1, shard.count) + token_loss / max(1, tagged)
