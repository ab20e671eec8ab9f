"""Export a Hone checkpoint to ONNX (optionally int8 or fp16) and measure how far the exported
model's logits are from PyTorch's on a sample. The orchestrator judges the numbers.

One graph: inputs input_ids and attention_mask (int64, [batch, sequence]), one float32 output of
logits per head, named as the head ([batch, labels], or [batch, sequence, labels] for token heads). Tokenization and decoding stay outside (in TypeScript).
"""

import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..classify import data as shards
from ..classify.model import build, load_weights
from ..protocol import EngineError


class Exportable(nn.Module):
    """The classifier with a tuple of head outputs (ONNX graphs have positional outputs)."""

    def __init__(self, model, names):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, input_ids, attention_mask):
        out = self.model(input_ids, attention_mask)
        return tuple(out[n] for n in self.names)


def _sample_batch(shard, size, pad_id):
    idx = np.arange(min(size, shard.count))
    batch = shards.collate(shard, idx, pad_id)
    return batch["input_ids"].long(), batch["attention_mask"].long()


def run(job: dict, channel) -> None:
    import onnxruntime as ort  # imported here: training never needs it

    torch.set_num_threads(job["threads"])
    heads = job["heads"]
    names = [h["name"] for h in heads]
    model = build(job["model"], heads, pretrained=False)
    load_weights(model, job["weights"], strict=True)
    # eval() on the wrapper: the exporter restores the wrapper's mode afterwards, recursively,
    # and a wrapper left in training mode would switch dropout back on for the comparison.
    wrapped = Exportable(model, names).eval()
    sample = shards.load(job["sample"], heads)
    ids, mask = _sample_batch(sample, job["sample_size"], job["model"]["pad_token_id"])

    out = Path(job["output"])
    out.parent.mkdir(parents=True, exist_ok=True)
    fp32 = out.with_name(f".{out.name}.fp32.tmp")
    t0 = time.time()
    axes = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "sequence"},
        **{h["name"]: {0: "batch", 1: "sequence"} if h["level"] == "token" else {0: "batch"} for h in heads},
    }
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated but dependency-free
        torch.onnx.export(
            wrapped,
            (ids, mask),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=names,
            dynamic_axes=axes,
            opset_version=job["opset"],
            do_constant_folding=True,
            dynamo=False,
        )
    tmp = out.with_name(f".{out.name}.tmp")
    if job["quantize"] == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Dynamic quantization: int8 weights, activations quantized per batch at run time.
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
        fp32.unlink()
    elif job["quantize"] == "fp16":
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        half = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True)
        onnx.save(half, str(tmp))
        fp32.unlink()
    else:
        os.replace(fp32, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, out)

    # How far is the exported graph from PyTorch on the sample?
    with torch.no_grad():
        ref = [t.float().numpy() for t in wrapped(ids, mask)]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = job["threads"]
    session = ort.InferenceSession(str(out), opts, providers=["CPUExecutionProvider"])
    got = session.run(names, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    report = {}
    real = mask.numpy().astype(bool)
    for head, a, b in zip(heads, ref, got):
        name = head["name"]
        if not np.all(np.isfinite(b)):
            raise EngineError("internal", f"the exported model gives non-finite logits for head {name}")
        if head["level"] != "sequence":
            a, b = a[real], b[real]  # padding positions are not predictions
        report[name] = {"max_abs_diff": float(np.max(np.abs(a - b))), "top1_agreement": float(np.mean(a.argmax(-1) == b.argmax(-1)))}
    channel.emit(
        "exported",
        path=str(out),
        bytes=out.stat().st_size,
        heads=report,
        sample_size=int(ids.shape[0]),
        onnxruntime=ort.__version__,
        opset=job["opset"],
        runtime_s=time.time() - t0,
    )
    channel.emit("done", step=0, reason="completed", runtime_s=time.time() - t0)
