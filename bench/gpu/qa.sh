#!/usr/bin/env bash
# SQuAD v1.1 on the device: Hone (the real CLI) vs the Hugging Face Trainer QA recipe, the full dev
# set, back to back on one GPU. What travels does not fit one call, so it comes in two (the device
# keeps ignored files between calls):
#   bash bench/gpu/qa.sh setup   (carry .carry/hone-node.tar.xz .carry/squad.tar.xz .carry/whl)
#   bash bench/gpu/qa.sh run     (carry .carry/minilm.tar.xz: the default model, bench/gpu/pack_minilm.py)
# Writes bench/results/qa-squad-h200.json under $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/out}
R=bench/out/device
if [[ ${1:-} == setup ]]; then
  mkdir -p $R/rt $R/data
  python3 -c "import jsonschema" 2>/dev/null || python3 -m pip install -q --no-index --find-links .carry/whl jsonschema
  tar -xJf .carry/hone-node.tar.xz -C $R/rt
  tar -xJf .carry/squad.tar.xz -C $R/data
  rm -rf dist node_modules && cp -r $R/rt/hone/dist $R/rt/hone/node_modules .
  ls $R/rt $R/data/squad-v1.1
  exit 0
fi
mkdir -p $R/models "$OUT/bench/results"
tar -xJf .carry/minilm.tar.xz -C $R
python3 bench/gpu/unpack_minilm.py $R/models/all-minilm-l6-v2
export PATH=$PWD/$R/rt:$PATH HONE_PYTHON=$(command -v python3) HONE_MODELS=$PWD/$R/models BENCH_DATA=$PWD/$R/data PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
node bench/qa.mjs run --tag h200
cp bench/results/qa-squad-h200.json "$OUT/bench/results/"
