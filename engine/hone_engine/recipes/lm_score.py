"""Log-probabilities of the learnt tokens of every sequence (test loss and perplexity, DPO rewards),
or a reward model's number for every sequence."""

import time
from pathlib import Path

from .. import lm, runtime
from ..lm import all_logps
from ..outputs import write_logits
from ..protocol import CONSTANTS


def run(job: dict, channel) -> None:
    device, autocast = runtime.setup(job["runtime"])
    model = lm.load(job["model"], None, trainable=False).to(device)
    shard = lm.load_shard(job["data"], pairs=job["pairs"])
    t0 = time.time()
    reward = job["model"]["head"] == "reward"
    stats = all_logps(model, shard, job["model"]["pad_token_id"], False, job["batch_size"], device, autocast, reward=reward)
    elapsed = time.time() - t0
    columns = CONSTANTS["score_columns"]["reward" if reward else "lm"]
    outputs = dict(zip(columns, (stats[:, 0:1], stats[:, 1:2])))
    paths = write_logits(Path(job["output_dir"]), outputs)
    channel.emit("predictions", logits=paths, count=shard.count, samples_per_s=shard.count / max(elapsed, 1e-9))
    channel.emit("done", step=0, reason="completed", runtime_s=elapsed)
