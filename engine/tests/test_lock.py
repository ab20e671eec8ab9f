"""engine/requirements.lock (what scripts/setup.sh installs, hashed) agrees with the ranges in
engine/requirements*.txt: every range is locked at a version inside it, with its wheels' hashes."""

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ENGINE = Path(__file__).resolve().parents[1]


def _ranges():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ENGINE / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                yield Requirement(line)


def test_every_range_is_locked_inside_it_with_hashes():
    text = (ENGINE / "requirements.lock").read_text()
    pins = {canonicalize_name(m[1]): m[2] for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", text, re.M)}
    blocks = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", text)
    for req in _ranges():
        name = canonicalize_name(req.name)
        if name == "torch":
            assert name not in pins, "torch is installed by setup.sh from the machine's own build, not from the lock"
            continue
        assert name in pins, f"{req.name} is not in the lock: run scripts/lock-engine.sh"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req.name}=={pins[name]} is outside {req.specifier}"
    for block in blocks[1:]:
        assert "--hash=sha256:" in block, block.splitlines()[0]
