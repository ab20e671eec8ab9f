import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from hone_engine.testing.tiny_model import build
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "support" / "data.jsonl"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return build(str(tmp_path_factory.mktemp("tiny")), [str(EXAMPLE)])


def write_shard(directory: Path, split: str, texts, labels, tokenizer_dir: Path, max_length=32):
    """The same binary layout as src/tokenize/shards.ts."""
    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length)
    ids = [e.ids for e in tok.encode_batch(texts)]
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in ids])]).astype("<u4")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{split}.tokens.u32").write_bytes(np.concatenate([np.array(x, dtype="<u4") for x in ids]).tobytes())
    (directory / f"{split}.offsets.u32").write_bytes(offsets.tobytes())
    (directory / f"{split}.label.labels").write_bytes(np.array(labels, dtype="<i4").tobytes())
    return {
        "tokens": str(directory / f"{split}.tokens.u32"),
        "offsets": str(directory / f"{split}.offsets.u32"),
        "count": len(texts),
        "labels": {"label": str(directory / f"{split}.label.labels")},
    }


def example_rows(n=None):
    rows = [json.loads(l) for l in EXAMPLE.read_text().splitlines() if l.strip()]
    return rows[:n] if n else rows


class ScriptedStdin:
    """The orchestrator's side of stdin: the job, then the given control lines, then silence
    (an open pipe, not EOF: EOF would mean the orchestrator died)."""

    def __init__(self, job, controls):
        self.job, self.controls = json.dumps(job) + "\n", [json.dumps(c) + "\n" for c in controls]

    def readline(self):
        job, self.job = self.job, ""
        return job

    def __iter__(self):
        yield from self.controls
        threading.Event().wait()  # block forever on a daemon thread


class Recorder:
    """A Channel wired to in-memory streams; by default it answers every eval with `continue`."""

    def __init__(self, job, controls=None):
        from hone_engine.protocol import Channel

        controls = controls if controls is not None else [{"type": "continue"}] * 200
        self.out = io.StringIO()
        self.channel = Channel(stdin=ScriptedStdin(job, controls), stdout=self.out)

    def events(self):
        return [json.loads(l) for l in self.out.getvalue().splitlines()]
