"""Token shards written by TypeScript (src/tokenize/shards.ts): flat uint32 ids plus offsets."""

from dataclasses import dataclass

import numpy as np
import torch

from ..protocol import DTYPES, EngineError


@dataclass
class Shard:
    tokens: np.ndarray  # uint32, all examples back to back
    offsets: np.ndarray  # uint32, count + 1
    labels: dict  # head -> int64 [count], float32 [count, num_labels], or int64 [tokens] (token heads)

    @property
    def count(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets.astype(np.int64))


def load(ref: dict, heads: list) -> Shard:
    try:
        tokens = np.fromfile(ref["tokens"], dtype=DTYPES["ids"])
        offsets = np.fromfile(ref["offsets"], dtype=DTYPES["ids"])
    except OSError as e:
        raise EngineError("data", f"cannot read shard: {e}") from None
    n = ref["count"]
    if len(offsets) != n + 1 or int(offsets[-1]) != len(tokens):
        raise EngineError("data", f"shard {ref['tokens']} is inconsistent: {len(offsets) - 1} offsets for {n} examples")
    labels = {}
    for head in heads:
        path = ref["labels"].get(head["name"])
        if path is None:
            continue  # prediction shards carry no labels
        if head["level"] == "span":
            raw = np.fromfile(path, dtype=DTYPES["single_label"])
            if raw.size != 2 * n:
                raise EngineError("data", f"span labels {path}: {raw.size} entries, expected {n} x 2")
            labels[head["name"]] = raw.reshape(n, 2).astype(np.int64)
        elif head["level"] == "token":
            raw = np.fromfile(path, dtype=DTYPES["single_label"])
            if raw.size != len(tokens):
                raise EngineError("data", f"token labels {path}: {raw.size} entries, expected one per token ({len(tokens)})")
            labels[head["name"]] = raw.astype(np.int64)
        elif head["multi_label"]:
            raw = np.fromfile(path, dtype=DTYPES["flags"])
            if raw.size != n * head["num_labels"]:
                raise EngineError("data", f"labels {path}: {raw.size} bytes, expected {n} x {head['num_labels']}")
            labels[head["name"]] = raw.reshape(n, head["num_labels"]).astype(np.float32)
        else:
            raw = np.fromfile(path, dtype=DTYPES["single_label"])
            if raw.size != n:
                raise EngineError("data", f"labels {path}: {raw.size} entries, expected {n}")
            labels[head["name"]] = raw.astype(np.int64)
    return Shard(tokens, offsets, labels)


def collate(shard: Shard, idx: np.ndarray, pad_id: int, token_heads: frozenset = frozenset()) -> dict:
    """Dynamic padding: pad to the longest example of this batch only. `token_heads`: the heads
    whose targets are per token."""
    starts, ends = shard.offsets[idx].astype(np.int64), shard.offsets[idx + 1].astype(np.int64)
    lens = ends - starts
    width = int(lens.max())
    ids = np.full((len(idx), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(idx), width), dtype=np.int64)
    for row, (s, e) in enumerate(zip(starts, ends)):
        ids[row, : e - s] = shard.tokens[s:e]
        mask[row, : e - s] = 1
    batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
    batch["labels"] = {}
    for name, y in shard.labels.items():
        if name in token_heads:
            # Token targets padded like the ids; -1 (no target) on padding and special tokens.
            t = np.full((len(idx), width), -1, dtype=np.int64)
            for row, (s, e) in enumerate(zip(starts, ends)):
                t[row, : e - s] = y[s:e]
            batch["labels"][name] = torch.from_numpy(t)
        else:
            batch["labels"][name] = torch.from_numpy(y[idx])
    batch["tokens"] = int(lens.sum())
    return batch


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int, group_by_length: bool) -> list:
    """The batches of one epoch, a pure function of (seed, epoch): resuming mid-epoch replays it exactly.

    Length grouping sorts windows of 50 batches by length so that padding is small, then
    shuffles the batches; windows are whole multiples of batch_size, so only the very last
    batch can be short and the count is always ceil(n / batch_size).
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if group_by_length:
        window = batch_size * 50
        parts = []
        for i in range(0, len(order), window):
            w = order[i : i + window]
            parts.append(w[np.argsort(-lengths[w], kind="stable")])
        order = np.concatenate(parts) if parts else order
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if group_by_length:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches
