"""Fold a LoRA / DoRA adapter into its base model and save the result as a plain model directory."""

import os
import shutil
import time
from pathlib import Path

from .. import lm


def run(job: dict, channel) -> None:
    t0 = time.time()
    # Merge in fp32 whatever the target precision: W + BA is exact there, then cast once.
    model = lm.load({**job["model"], "dtype": "fp32"}, None, trainable=False)
    merged = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    merged = merged.to(lm.WEIGHT_DTYPES[job["dtype"]])
    final = Path(job["output"])
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.config.use_cache = True
    merged.save_pretrained(tmp, safe_serialization=True)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    size = sum(f.stat().st_size for f in final.rglob("*") if f.is_file())
    channel.emit("model_written", path=str(final), bytes=size)
    channel.emit("done", step=0, reason="completed", runtime_s=time.time() - t0)
