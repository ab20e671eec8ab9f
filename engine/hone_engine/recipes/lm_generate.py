"""Generate answers for tokenized prompts (generation-based evaluation, samples, `hone generate`)."""

import time
from pathlib import Path

import numpy as np
import torch

from .. import lm, runtime
from ..outputs import write_array
from ..protocol import DTYPES


@torch.no_grad()
def run(job: dict, channel) -> None:
    device, autocast = runtime.setup(job["runtime"])
    torch.manual_seed(job["seed"])
    model = lm.load(job["model"], None, trainable=False)
    model.to(device).eval()
    base = lm.causal(model)
    base.config.use_cache = True
    shard = lm.load_shard(job["prompts"], pairs=False)
    out_dir = Path(job["output_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    t_all = time.time()
    chunks = job["chunks"]
    if chunks is None:
        _emit(channel, out_dir, "generations", None, *_generate(model, shard, np.arange(shard.count), job, device, autocast))
    else:
        # Each chunk seeded by its own number, not by what ran before it in this process: a resume
        # that starts at chunk i samples what an uninterrupted run did.
        for k, start in enumerate(range(0, shard.count, chunks["size"])):
            chunk = chunks["first"] + k
            torch.manual_seed(job["seed"] + chunk)
            rows = np.arange(start, min(start + chunks["size"], shard.count))
            _emit(channel, out_dir, f"generations-{chunk}", chunk, *_generate(model, shard, rows, job, device, autocast))
    channel.emit("done", step=0, reason="completed", runtime_s=time.time() - t_all)


def _generate(model, shard, rows, job, device, autocast):
    """The new tokens of each prompt in `rows` (in that order), whether each ended at a stop token,
    and the new tokens per second."""
    seq2seq = lm.is_seq2seq(model)
    pad_id = job["model"]["pad_token_id"]
    stop = set(job["stop_token_ids"])
    lengths = np.diff(shard.offsets)[rows]
    order = np.argsort(-lengths, kind="stable")  # similar lengths together: little padding
    results = [None] * len(rows)
    stopped = np.zeros(len(rows), dtype=DTYPES["flags"])
    sample = job["temperature"] > 0
    t0, new_tokens = time.time(), 0
    for i in range(0, len(rows), job["batch_size"]):
        idx = order[i : i + job["batch_size"]]
        width = int(lengths[idx].max())
        # Left padding: every prompt ends where generation starts.
        ids = np.full((len(idx), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, j in enumerate(idx):
            s, e = int(shard.offsets[rows[j]]), int(shard.offsets[rows[j] + 1])
            ids[row, width - (e - s) :] = shard.tokens[s:e]
            mask[row, width - (e - s) :] = 1
        with autocast:
            out = model.generate(
                input_ids=torch.from_numpy(ids).to(device),
                attention_mask=torch.from_numpy(mask).to(device),
                max_new_tokens=job["max_new_tokens"],
                do_sample=sample,
                temperature=job["temperature"] if sample else None,
                top_p=job["top_p"] if sample else None,
                top_k=None,
                eos_token_id=sorted(stop),
                pad_token_id=pad_id,
            )
        for row, j in enumerate(idx):
            # A decoder-only model returns prompt + answer; an encoder-decoder, its decoder start + answer.
            gen = out[row, 1:].tolist() if seq2seq else out[row, width:].tolist()
            cut = next((k for k, t in enumerate(gen) if t in stop), None)
            stopped[j] = cut is not None
            results[j] = gen[:cut] if cut is not None else gen
            new_tokens += len(results[j])
    return results, stopped, new_tokens / max(time.time() - t0, 1e-9)


def _emit(channel, out_dir: Path, name: str, chunk, results, stopped, rate) -> None:
    flat = np.array([t for r in results for t in r], dtype=DTYPES["ids"])
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in results])]).astype(DTYPES["ids"])
    channel.emit(
        "generations",
        tokens=write_array(out_dir / f"{name}.tokens.u32", flat),
        offsets=write_array(out_dir / f"{name}.offsets.u32", offsets),
        count=len(results),
        stopped=write_array(out_dir / f"{name}.stopped.u8", stopped),
        new_tokens_per_s=rate,
        chunk=chunk,
    )
