"""Logits of a Hone classifier checkpoint on a token shard (test split, `hone predict`)."""

import time
from pathlib import Path

from .. import runtime
from ..classify import data as shards
from ..classify.model import build, load_weights
from ..classify.predict import predict_logits
from ..outputs import write_logits


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
