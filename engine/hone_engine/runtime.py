"""What every recipe sets up the same way: device, threads, precision, and Ctrl-C handling."""
import signal
from contextlib import nullcontext

import torch


def setup(rt: dict):
    """(device, autocast context) for a job's RuntimeSpec. bf16 autocast keeps fp32 master
    weights; fp32 on CPU, where bf16 matmuls are slow."""
    device = torch.device(rt["device"])
    if rt["threads"] is not None:
        torch.set_num_threads(rt["threads"])
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if rt["precision"] == "bf16" else nullcontext()
    return device, autocast


def interrupt_flag() -> dict:
    """Ctrl-C / SIGTERM set flag["set"]: the loop finishes its step, saves a checkpoint and exits."""
    flag = {"set": False}

    def on_signal(signum, frame):
        flag["set"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return flag
