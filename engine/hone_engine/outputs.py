"""What recipes hand back to TypeScript: float32 row-major files, one per output, each renamed
into place once complete."""

import os
from pathlib import Path

import numpy as np

from .protocol import CONSTANTS, DTYPES


def write_logits(directory: Path, logits: dict) -> dict:
    """float32 row-major files, one per head, each renamed into place once complete."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, array in logits.items():
        final = directory / f"{name}{CONSTANTS['logits_suffix']}"
        tmp = directory / f".{name}{CONSTANTS['logits_suffix']}.tmp"
        with open(tmp, "wb") as f:
            f.write(np.ascontiguousarray(array, dtype=DTYPES["logits"]).tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        paths[name] = str(final)
    return paths


def write_array(path: Path, array: np.ndarray) -> str:
    """One array's bytes as they are (token ids, flags), renamed into place once complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(np.ascontiguousarray(array).tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return str(path)
