"""Ctrl-C for training jobs, caught from the engine's first line: a signal that arrives while the
engine still imports torch or loads the model is kept, and the loop stops before its first step
(loop.py), instead of the process dying with a traceback. Nothing heavy is imported here."""

import signal

FLAG = {"set": False}


def _on_signal(signum, frame):
    FLAG["set"] = True


def catch(sigterm: bool = False) -> dict:
    """Record SIGINT (and SIGTERM) in FLAG instead of stopping the process."""
    signal.signal(signal.SIGINT, _on_signal)
    if sigterm:
        signal.signal(signal.SIGTERM, _on_signal)
    return FLAG


def release() -> None:
    """Jobs that are not training stop on Ctrl-C as Python does."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
