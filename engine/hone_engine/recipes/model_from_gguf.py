"""A GGUF file (llama.cpp's format, as some registry packages ship small models) to a plain
Hugging Face model directory: weights dequantized to fp32 safetensors, the fast tokenizer and its
chat template. Run once, when `hone models install` brings such a model."""

import os
import shutil
import time
from pathlib import Path

import torch

from ..protocol import EngineError


def run(job: dict, channel) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.time()
    gguf = Path(job["gguf"])
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except (OSError, ValueError, ImportError) as e:
        raise EngineError("model_load", f"cannot read {gguf}: {e}") from None
    # transformers dequantizes while loading but marks the model as "gguf-quantized", which it
    # refuses to save: rebuild a plain model from the same config and move the weights over.
    config = quantized.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(quantized.state_dict(), strict=False)
    if unexpected or [k for k in missing if not k.endswith("lm_head.weight")]:
        raise EngineError("model_load", f"{gguf}: weights do not fit the architecture: {missing[:3]} {unexpected[:3]}")
    final = Path(job["output"])
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    channel.emit("model_written", path=str(final), bytes=sum(f.stat().st_size for f in final.rglob("*") if f.is_file()))
    channel.emit("done", step=0, reason="completed", runtime_s=time.time() - t0)
