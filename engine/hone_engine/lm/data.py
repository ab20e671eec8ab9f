"""LM shards written by TypeScript (src/tokenize/shards.ts) and the batches made of them: packed
rows of several sequences with positions restarting per sequence, or one sequence (or a preference
pair) per row; encoder-decoders' source then target tokens. The row order of an epoch is a pure
function of (seed, epoch), so a resumed run replays it."""

from dataclasses import dataclass

import numpy as np
import torch

from ..protocol import DTYPES as FILE_DTYPES
from ..protocol import EngineError
from . import varlen


def epoch_rows(n_rows: int, seed: int, epoch: int) -> np.ndarray:
    """Row order of one epoch: a pure function of (seed, epoch), so a resumed run replays it."""
    return np.random.default_rng([seed, epoch]).permutation(n_rows)


@dataclass
class LmShard:
    tokens: np.ndarray  # uint32
    offsets: np.ndarray  # uint32, count + 1
    mask: np.ndarray | None  # uint8 per token
    rows: list  # row -> array of sequence indices
    labels: np.ndarray | None = None  # KTO: uint8 per pair, 1 = a desirable answer

    @property
    def count(self) -> int:
        return len(self.offsets) - 1

    def row_sizes(self) -> tuple:
        """(tokens, learnt tokens) of every row, as collate counts them: what a step's loss is
        divided by, known to every process without asking the others."""
        lengths = np.diff(self.offsets)
        if self.mask is None:
            learnt = np.zeros(self.count, dtype=np.int64)
        else:
            cum = np.concatenate([[0], np.cumsum(self.mask, dtype=np.int64)])
            learnt = cum[self.offsets[1:]] - cum[self.offsets[:-1] + 1]  # the first token is never learnt
            learnt = np.maximum(learnt, 0)
        return np.array([lengths[r].sum() for r in self.rows]), np.array([learnt[r].sum() for r in self.rows])


def load_shard(ref: dict, pairs: bool) -> LmShard:
    try:
        tokens = np.fromfile(ref["tokens"], dtype=FILE_DTYPES["ids"])
        offsets = np.fromfile(ref["offsets"], dtype=FILE_DTYPES["ids"]).astype(np.int64)
        mask = np.fromfile(ref["loss_mask"], dtype=FILE_DTYPES["flags"]) if ref["loss_mask"] else None
        if ref["rows"]:
            row_off = np.fromfile(ref["rows"]["offsets"], dtype=FILE_DTYPES["ids"]).astype(np.int64)
            items = np.fromfile(ref["rows"]["items"], dtype=FILE_DTYPES["ids"]).astype(np.int64)
    except OSError as e:
        raise EngineError("data", f"cannot read shard: {e}") from None
    n = ref["count"]
    if len(offsets) != n + 1 or int(offsets[-1]) != len(tokens) or (mask is not None and len(mask) != len(tokens)):
        raise EngineError("data", f"shard {ref['tokens']} is inconsistent ({n} sequences, {len(tokens)} tokens)")
    if ref["rows"]:
        rows = [items[row_off[r] : row_off[r + 1]] for r in range(ref["rows"]["count"])]
    elif pairs:
        if n % 2:
            raise EngineError("data", f"shard {ref['tokens']} holds {n} sequences, not pairs")
        rows = [np.array([2 * i, 2 * i + 1]) for i in range(n // 2)]
    else:
        rows = [np.array([i]) for i in range(n)]
    labels = None
    if ref.get("labels"):
        labels = np.fromfile(ref["labels"], dtype=FILE_DTYPES["flags"])
        if len(labels) != len(rows):
            raise EngineError("data", f"shard {ref['tokens']} has {len(labels)} labels for {len(rows)} pairs")
    return LmShard(tokens, offsets, mask, rows, labels)


def collate_seq2seq(shard: LmShard, rows: list, pad_id: int) -> dict:
    """Encoder-decoder rows: each sequence splits where its mask turns on, into the encoder's input
    (right-padded, with an attention mask) and the decoder's labels (-100 past the end; the model
    shifts them right behind its decoder start token itself). Decoder position t predicts label t."""
    seqs = [int(i) for r in rows for i in r]
    src, tgt = [], []
    for i in seqs:
        s, e = int(shard.offsets[i]), int(shard.offsets[i + 1])
        learnt = np.flatnonzero(shard.mask[s:e])
        cut = int(learnt[0]) if len(learnt) else e - s
        src.append(shard.tokens[s : s + cut].astype(np.int64))
        tgt.append(shard.tokens[s + cut : e].astype(np.int64))
    n, ws, wt = len(seqs), max(len(x) for x in src), max(1, max(len(y) for y in tgt))
    ids = np.full((n, ws), pad_id, dtype=np.int64)
    attention = np.zeros((n, ws), dtype=np.int64)
    labels = np.full((n, wt), -100, dtype=np.int64)
    for r, (x, y) in enumerate(zip(src, tgt)):
        ids[r, : len(x)], attention[r, : len(x)], labels[r, : len(y)] = x, 1, y
    row, col = np.nonzero(labels != -100)
    return {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(attention),
        "labels": torch.from_numpy(labels),
        "learnt_index": torch.from_numpy(row * wt + col),
        "targets": torch.from_numpy(labels[row, col]),
        "target_seq": torch.from_numpy(row),
        "sequences": n,
        "tokens": int(sum(len(x) + len(y) for x, y in zip(src, tgt))),
        "seq2seq": True,
    }


def collate(shard: LmShard, rows: list, pad_id: int, pack: bool, seq2seq: bool = False, shape: tuple | None = None) -> dict:
    """Rows to tensors. pack=True concatenates a row's sequences into one line, positions restarting
    at every sequence (transformers then keeps attention inside each sequence); pack=False puts each
    sequence on its own line. Padding is its own "sequence" (positions restart) and is never learnt.
    `seq` numbers the sequences of the batch (-1 = padding), for per-sequence sums.
    shape (lines, width), packed only: every batch that shape, lines of padding added to a short
    batch (the last of an epoch), for layers compiled for that one shape (varlen.flex_width)."""
    if seq2seq:
        return collate_seq2seq(shard, rows, pad_id)
    lines = [[int(i) for i in r] for r in rows] if pack else [[int(i)] for r in rows for i in r]
    fixed = pack and shape is not None
    if fixed:
        lines += [[] for _ in range(shape[0] - len(lines))]
    lengths = [sum(int(shard.offsets[i + 1] - shard.offsets[i]) for i in line) for line in lines]
    width = shape[1] if fixed else max(lengths)
    if width < max(lengths):
        raise ValueError(f"a packed row of {max(lengths)} tokens in a batch shaped for {width}")
    ids = np.full((len(lines), width), pad_id, dtype=np.int64)
    labels = np.full((len(lines), width), -100, dtype=np.int64)
    pos = np.zeros((len(lines), width), dtype=np.int64)
    seq = np.full((len(lines), width), -1, dtype=np.int64)
    n_seq = 0
    last = []  # flat index of each sequence's last token (a reward head reads it)
    for r, line in enumerate(lines):
        at = 0
        for i in line:
            s, e = int(shard.offsets[i]), int(shard.offsets[i + 1])
            last.append(r * width + at + e - s - 1)
            ids[r, at : at + e - s] = shard.tokens[s:e]
            if shard.mask is not None:
                learnt = shard.mask[s:e].astype(bool)
                learnt[0] = False  # never predicted from the sequence before it in a packed line
                labels[r, at : at + e - s] = np.where(learnt, shard.tokens[s:e].astype(np.int64), -100)
            pos[r, at : at + e - s] = np.arange(e - s)
            seq[r, at : at + e - s] = n_seq
            n_seq += 1
            at += e - s
        pos[r, at:] = np.arange(width - at)
    # Which hidden states predict a learnt token (position p predicts token p + 1), found here on
    # the CPU: a boolean mask on the GPU would make it wait for the forward pass (a sync per step).
    row, col = np.nonzero(labels[:, 1:] != -100)
    packed = fixed or any(len(line) > 1 for line in lines)
    seq_lengths = [[int(shard.offsets[i + 1] - shard.offsets[i]) for i in line] for line in lines] if packed else None
    cu, longest = varlen.boundaries(seq_lengths, width) if packed else (None, None)
    return {
        "input_ids": torch.from_numpy(ids),
        "labels": torch.from_numpy(labels),
        # Restarting positions only where a line holds several sequences. Otherwise none at all:
        # transformers then attends causally with no mask (the flash kernel), where any
        # position_ids make it build a block mask under torch.compile (a slower masked kernel)
        # or inspect them on the GPU (a sync) in eager mode. Trailing padding is never learnt
        # and, being last, never attended to, so its positions do not matter.
        "position_ids": torch.from_numpy(pos) if packed else None,
        # A packed batch's sequence boundaries for the variable-length attention (varlen.py).
        "cu_seq_lens": cu,
        "max_length": longest,
        "learnt_index": torch.from_numpy(row * width + col),
        "targets": torch.from_numpy(labels[:, 1:][row, col]),
        "target_seq": torch.from_numpy(seq[:, 1:][row, col]),
        "last_index": torch.tensor(last, dtype=torch.int64),
        "sequences": n_seq,
        "tokens": int(sum(lengths)),
    }


def mover(device):
    """Host-to-GPU copies from pinned memory: from pageable memory a copy waits for the GPU to
    finish its queue, so every step would start with an idle GPU."""
    if torch.device(device).type != "cuda":
        return lambda t: t
    return lambda t: t.pin_memory().to(device, non_blocking=True)
