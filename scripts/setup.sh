#!/usr/bin/env bash
# One command installs everything Hone needs, from the project's own files:
# npm dependencies, the TypeScript build, the engine's Python venv (.venv) and the default models.
set -euo pipefail
cd "$(dirname "$0")/.."

node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || { echo "error: Hone needs Node.js >= 20 (found $(node --version))" >&2; exit 1; }

echo "== npm dependencies"
npm ci --no-audit --no-fund
echo "== build"
npm run build

echo "== engine: Python venv in .venv"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: a bare range would let pip pick a multi-GB CUDA build on a CPU machine.
# Override with HONE_TORCH (e.g. HONE_TORCH="torch==2.11.0") on machines with other builds.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q "${HONE_TORCH:-torch==2.13.0}"
fi
# Everything else exactly as locked, every wheel checked against its sha256 (scripts/lock-engine.sh
# writes the lock from the ranges in engine/requirements*.txt).
.venv/bin/python -m pip install -q --require-hashes --no-deps -r engine/requirements.lock

echo "== default models"
node bin/hone models install all-minilm-l6-v2
node bin/hone models install smollm2-135m-instruct
node bin/hone doctor
echo "== ready: node bin/hone train examples/support/hone.yaml"
