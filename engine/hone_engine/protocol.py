"""JSON lines over stdio. The job schema is generated from TypeScript (src/protocol/schema.ts)."""

import json
import math
import os
import queue
import sys
import threading
from pathlib import Path

import jsonschema

SCHEMA = json.loads((Path(__file__).parent / "protocol.schema.json").read_text())
PROTOCOL_VERSION = SCHEMA["protocol_version"]
CONSTANTS = SCHEMA["constants"]  # defined once, in src/protocol/schema.ts
DTYPES = CONSTANTS["dtypes"]


_faults: dict = {}


def fault_point(name: str) -> None:
    """Tests: HONE_ENGINE_FAULT=<name>[@<n>] kills this process (SIGKILL) the n-th time it gets here
    (the engine's side of src/run/faults.ts)."""
    spec = os.environ.get("HONE_ENGINE_FAULT", "")
    point, _, nth = spec.partition("@")
    if point != name:
        return
    _faults[name] = _faults.get(name, 0) + 1
    if _faults[name] == int(nth or 1):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def step_name(step: int) -> str:
    """A step's folder under checkpoints/ and evals/ (the layout TypeScript reads)."""
    return f"{CONSTANTS['step_prefix']}{step:0{CONSTANTS['step_digits']}d}"


class EngineError(Exception):
    """An error with a protocol code (see ErrorCode in schema.ts)."""

    def __init__(self, code: str, message: str, detail: str | None = None):
        super().__init__(message)
        self.code, self.message, self.detail = code, message, detail


def _finite(value):
    # JSON has no NaN: a diverged loss crosses as null, never as an invalid token.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def launch_rank() -> int:
    """This process's rank in its job. One machine: torchrun's. Several (HONE_NODE_RANK set by the
    orchestrator that started this node): the node rank the node was started with times the
    processes per node, plus the local rank, so the head node (node rank 0, which keeps the run)
    holds ranks 0..P-1. torchrun's c10d rendezvous numbers the nodes in its own order (by host
    name and process id), which would put rank 0 on whichever machine sorts first."""
    if "HONE_NODE_RANK" in os.environ:
        return int(os.environ["HONE_NODE_RANK"]) * int(os.environ["LOCAL_WORLD_SIZE"]) + int(os.environ["LOCAL_RANK"])
    return int(os.environ.get("RANK", "0"))


class _Tolerant:
    """stderr that outlives its reader. When the orchestrator is killed, the pipe of our stderr
    has no reader: a library's warning would then raise BrokenPipeError somewhere in training
    and end the process with an error, and under torchrun other nodes would wait minutes for it
    at their exit barrier. Once the pipe breaks, what this process writes goes nowhere."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except (BrokenPipeError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.dup2(devnull, 1)
            os.close(devnull)
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


class Channel:
    """Events out on the real stdout; job and control lines in on stdin.

    Libraries print to stdout too, so fd 1 is pointed at stderr and events go to a
    private duplicate of the original stdout: nothing but events reaches the orchestrator.
    """

    def __init__(self, stdin=None, stdout=None):
        # Under torchrun (several processes, one job) only rank 0 talks to the orchestrator:
        # the others read the job from its file and get decisions from rank 0 (lm_train.py).
        # Another node's first process tells its own node's orchestrator how the job ended
        # (done or error events only, src/run/nodes.ts).
        self.rank = launch_rank()
        self.only = None if self.rank == 0 else ("done", "error")
        if stdout is None:
            node_leader = os.environ.get("HONE_NODE_RANK", "0") != "0" and os.environ.get("LOCAL_RANK") == "0"
            stdout = os.fdopen(os.dup(1), "w", buffering=1) if self.rank == 0 or node_leader else open(os.devnull, "w")
            os.dup2(2, 1)
            sys.stdout = sys.stderr = _Tolerant(sys.stderr)
        self._out = stdout
        self._in = stdin if stdin is not None else sys.stdin
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.closed = threading.Event()  # the orchestrator went away (stdin EOF)

    def read_job(self) -> dict:
        if os.environ.get("HONE_JOB_FILE"):
            # Several processes: the job is in a file (stdin is rank 0's, for control lines only).
            job = json.loads(Path(os.environ["HONE_JOB_FILE"]).read_text())
            validate(job, "Job")
            if self.rank == 0:
                threading.Thread(target=self._pump, daemon=True).start()
            return job
        line = self._in.readline()
        if not line:
            raise EngineError("bad_job", "no job on stdin")
        try:
            job = json.loads(line)
        except json.JSONDecodeError as e:
            raise EngineError("bad_job", f"job is not JSON: {e}") from None
        validate(job, "Job")
        # Later lines are control messages, read on a thread so training never blocks on them.
        threading.Thread(target=self._pump, daemon=True).start()
        return job

    def _pump(self):
        for line in self._in:
            if line.strip():
                self._lines.put(line)
        self.closed.set()
        self._lines.put(None)

    def emit(self, type_: str, **fields):
        event = _finite({"type": type_, **fields})
        if self.only is not None and type_ not in self.only:
            return
        try:
            self._out.write(json.dumps(event, allow_nan=False) + "\n")
            self._out.flush()
        except (BrokenPipeError, ValueError):
            # The orchestrator is gone: nobody reads events any more. Training stops at the
            # end of this step and saves a checkpoint (see the loop), so nothing is lost.
            self.closed.set()

    def poll_control(self) -> "dict | None":
        """A control line if one has arrived, else None (lm.serve reads cancels while it generates)."""
        try:
            return self._control(self._lines.get_nowait())
        except queue.Empty:
            return None

    def await_control(self) -> dict:
        """Block until the orchestrator decides (after an eval). EOF means stop."""
        return self._control(self._lines.get())

    def _control(self, line: "str | None") -> dict:
        if line is None:
            self._lines.put(None)  # EOF stays visible to the next reader
            return {"type": "stop", "reason": "orchestrator closed stdin"}
        msg = json.loads(line)
        validate(msg, "Control")
        return msg


def validate(obj: dict, definition: str):
    try:
        jsonschema.validate(obj, SCHEMA["$defs"][definition])
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "<root>"
        raise EngineError("bad_job", f"{definition} does not match the protocol at {where}: {e.message}") from None
