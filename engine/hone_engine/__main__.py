"""python -m hone_engine: read one job on stdin, run its recipe, write events on stdout."""

import errno
import os
import sys
import traceback

from . import interrupts

interrupts.catch()  # before the heavy imports: a training job's Ctrl-C is never lost (interrupts.py)

# No network, ever: models come from local directories.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from .protocol import Channel, EngineError  # noqa: E402

RECIPES = {
    "classify.train": "hone_engine.recipes.classify_train",
    "classify.predict": "hone_engine.recipes.classify_predict",
    "onnx.export": "hone_engine.recipes.onnx_export",
    "classify.bench": "hone_engine.recipes.classify_bench",
    "lm.train": "hone_engine.recipes.lm_train",
    "lm.grpo": "hone_engine.recipes.lm_grpo",
    "lm.generate": "hone_engine.recipes.lm_generate",
    "lm.score": "hone_engine.recipes.lm_score",
    "lm.merge": "hone_engine.recipes.lm_merge",
    "lm.serve": "hone_engine.recipes.lm_serve",
    "lm.gguf": "hone_engine.recipes.lm_gguf",
    "model.from_gguf": "hone_engine.recipes.model_from_gguf",
    "probe": "hone_engine.recipes.probe",
}


def main() -> int:
    channel = Channel()
    try:
        job = channel.read_job()
        if job["kind"] not in ("classify.train", "lm.train", "lm.grpo"):
            interrupts.release()
        import importlib

        importlib.import_module(RECIPES[job["kind"]]).run(job, channel)
        return 0
    except EngineError as e:
        channel.emit("error", code=e.code, message=e.message, detail=e.detail)
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            return _internal(channel, e)
        # Checkpoints are written to a temporary folder and renamed: the finished ones are intact.
        channel.emit("error", code="disk_full", message=f"no space left on the disk: {e.filename or e}", detail=None)
    except Exception as e:  # a bug or an environment failure: keep the trace for the log
        return _internal(channel, e)
    return 1


def _internal(channel, e: Exception) -> int:
    import torch

    code = "out_of_memory" if isinstance(e, torch.OutOfMemoryError) else "internal"
    channel.emit("error", code=code, message=f"{type(e).__name__}: {e}", detail=traceback.format_exc())
    return 1


if __name__ == "__main__":
    sys.exit(main())
