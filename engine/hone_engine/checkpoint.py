"""Checkpoints in safetensors only, written to a temporary directory and renamed into place.

Layout of checkpoints/step-NNNNNN/:
  model.safetensors      all weights of the Classifier (classifiers), or
  model/                 a generative model as save_pretrained writes it: the peft adapter
                         (adapter_model.safetensors + adapter_config.json) or the full model
  optimizer.safetensors  AdamW moments and step counts, keyed "<param index>.<name>"
  rng.safetensors        torch CPU (and CUDA) generator states, so dropout continues exactly
  state.json             step and format version
"""

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .protocol import CONSTANTS, EngineError, fault_point, step_name

FORMAT = 1


def _fsync(path: Path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(directory: Path, step: int, model, optimizer, write_model=None, write: bool = True) -> Path | None:
    """write_model(tmp_dir) writes the weights; by default all of model.state_dict(). Under FSDP
    every rank calls save (the optimizer's shards are gathered whole) and only the writer writes."""
    final = directory / step_name(step)
    if final.exists():
        return final  # the same step is already safely on disk
    opt = {}
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        for key, value in optimizer.state.get(p, {}).items():
            value = value.full_tensor() if hasattr(value, "full_tensor") else value  # a DTensor shard: gathered
            opt[f"{i}.{key}"] = torch.as_tensor(value).detach().contiguous().cpu()
    if not write:
        return None
    tmp = directory / f"{CONSTANTS['temp_prefix']}{step_name(step)}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if write_model is None:
        state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(state, tmp / "model.safetensors")
    else:
        write_model(tmp)
    save_file(opt, tmp / "optimizer.safetensors")
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            rng[f"cuda.{i}"] = s
    save_file(rng, tmp / "rng.safetensors")
    (tmp / "state.json").write_text(json.dumps({"format": FORMAT, "step": step}))
    for f in tmp.rglob("*"):
        if f.is_file():
            _fsync(f)
    fault_point("checkpoint")  # tests: a kill here leaves the temporary folder, never a half checkpoint
    os.rename(tmp, final)
    _fsync(directory)
    return final


def step_of(path: str) -> int:
    """The step a checkpoint was saved at (a staged recipe picks the optimizer to restore by it)."""
    try:
        return int(json.loads((Path(path) / "state.json").read_text())["step"])
    except (OSError, ValueError, KeyError) as e:
        raise EngineError("checkpoint", f"cannot resume from {path}: {e}") from None


def restore(path: str, model, optimizer, load_model=None) -> int:
    """Load weights (load_model(dir) for generative models), optimizer moments and RNG states;
    return the step to continue from."""
    directory = Path(path)
    try:
        meta = json.loads((directory / "state.json").read_text())
        if load_model is None:
            model.load_state_dict(load_file(directory / "model.safetensors"))
        else:
            load_model(directory)
        opt = load_file(directory / "optimizer.safetensors")
        rng = load_file(directory / "rng.safetensors")
    except (OSError, ValueError, RuntimeError) as e:
        raise EngineError("checkpoint", f"cannot resume from {path}: {e}") from None
    if meta.get("format") != FORMAT:
        raise EngineError("checkpoint", f"checkpoint {path} has format {meta.get('format')}, expected {FORMAT}")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        state = {k.split(".", 1)[1]: v.to(p.device) for k, v in opt.items() if k.split(".", 1)[0] == str(i)}
        if state:
            if hasattr(p, "device_mesh"):  # an FSDP shard: this rank keeps its slice of each moment
                from torch.distributed.tensor import distribute_tensor

                state = {k: v if v.ndim == 0 else distribute_tensor(v, p.device_mesh, p.placements, src_data_rank=None) for k, v in state.items()}
            if "step" in state and not (optimizer.defaults.get("fused") or optimizer.defaults.get("capturable")):
                state["step"] = state["step"].cpu()  # AdamW keeps step counts on the CPU unless fused
            optimizer.state[p] = state
    torch.set_rng_state(rng["cpu"])
    if torch.cuda.is_available():
        cuda = [rng[f"cuda.{i}"] for i in range(torch.cuda.device_count()) if f"cuda.{i}" in rng]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
    return int(meta["step"])


CHUNK = 64 << 20  # bytes per broadcast: bounded memory whatever the checkpoint's size


def from_head(path: str | None, ranks, into: Path, device) -> str | None:
    """The checkpoint to resume from, readable on this machine. The head node (ranks 0..P-1) holds
    it; the other nodes get its files broadcast in chunks, written once per node (by local rank 0)
    under `into`, which the node's other processes then read. Always, even where the nodes share
    a file system: a node never reads a checkpoint that another machine may still be writing or
    that its file system shows stale."""
    if path is None or ranks.nodes == 1:
        return path
    import torch.distributed as dist

    here = ranks.rank < ranks.world // ranks.nodes  # a process of the head node
    names = [[str(f.relative_to(path)), f.stat().st_size] for f in sorted(Path(path).rglob("*")) if f.is_file()] if ranks.main else None
    box = [names]
    dist.broadcast_object_list(box, src=0)
    writer = not here and ranks.local == 0
    if writer:
        shutil.rmtree(into, ignore_errors=True)
    on = device if device.type == "cuda" else torch.device("cpu")
    for name, size in box[0]:
        source = open(Path(path) / name, "rb") if ranks.main else None
        target = None
        if writer:
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            target = open(into / name, "wb")
        for start in range(0, size, CHUNK):
            n = min(CHUNK, size - start)
            buf = torch.frombuffer(bytearray(source.read(n)), dtype=torch.uint8).to(on) if ranks.main else torch.empty(n, dtype=torch.uint8, device=on)
            dist.broadcast(buf, src=0)
            if target:
                target.write(buf.cpu().numpy().tobytes())
        for f in (source, target):
            if f:
                f.close()
    dist.barrier()  # the node's files are whole before any of its processes reads them
    return path if here else str(into)
