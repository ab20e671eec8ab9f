"""What this machine offers; the orchestrator resolves `device: auto` and `precision: auto` from it."""

import os

import torch
import transformers


def run(job: dict, channel) -> None:
    cuda = torch.cuda.is_available()
    channel.emit(
        "probe",
        torch=torch.__version__,
        transformers=transformers.__version__,
        cuda=cuda,
        bf16=bool(cuda and torch.cuda.is_bf16_supported()),
        devices=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        cpu_threads=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
    )
