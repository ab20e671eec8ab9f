#!/usr/bin/env bash
# Hierarchy benchmark on the device: every strategy against the flat classifier, CLINC150 and the
# WOS sample, through the real CLI (bench/hierarchy.mjs). Carried (pack here with `bash bench/gpu/hierarchy.sh pack`):
#   .carry/hone-node.tar.xz, .carry/whl   bench/gpu/pack-node.sh (node, Hone, jsonschema wheels)
#   .carry/hierarchy-data.tar.xz  CLINC150 (data_full.json, domains.json), the WOS sample, the default model packed (bench/gpu/pack_minilm.py)
# Writes bench/results/hierarchy-h200.json under $OUT (as each run ends, so a call cut short keeps what finished).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ ${1:-} == pack ]]; then
  D=../shared/data T=$(mktemp -d)
  mkdir -p .carry/whl $T/hd/data/clinc150 $T/hd/data/wos-sample-1k
  cp $D/clinc150/data_full.json $D/clinc150/domains.json $T/hd/data/clinc150/
  cp $D/wos-sample-1k/wos_*.jsonl $D/wos-sample-1k/wos.taxonomy.full.tsv $T/hd/data/wos-sample-1k/
  .venv/bin/python bench/gpu/pack_minilm.py "${HONE_MODELS:-$HOME/.cache/hone/models}/all-minilm-l6-v2" $T/hd/models/all-minilm-l6-v2 \
    $D/clinc150/data_full.json $D/wos-sample-1k/wos_*.jsonl
  tar -cJf .carry/hierarchy-data.tar.xz -C $T/hd models data
  rm -rf $T
  bash bench/gpu/pack-node.sh
  du -sh .carry/*
  exit 0
fi
OUT=${OUT:-bench/out}
R=bench/out/device
mkdir -p $R/rt $R/bench "$OUT/bench/results"
python3 -c "import jsonschema" 2>/dev/null || python3 -m pip install -q --no-index --find-links .carry/whl jsonschema
if [[ ! -x $R/rt/hone/node ]]; then
  tar -xJf .carry/hone-node.tar.xz -C $R/rt
  tar -xJf .carry/hierarchy-data.tar.xz -C $R/bench
  python3 bench/gpu/unpack_minilm.py $R/bench/models/all-minilm-l6-v2
fi
rm -rf dist node_modules && cp -r $R/rt/hone/dist $R/rt/hone/node_modules .
export PATH=$PWD/$R/rt/hone:$PATH HONE_PYTHON=$(command -v python3) HONE_MODELS=$PWD/$R/bench/models PYTHONUNBUFFERED=1
export HONE_BENCH_MODEL_NOTE="all-MiniLM-L6-v2 packed for the device by bench/gpu/pack_minilm.py (fp16 transport, unused vocabulary rows zeroed), back to fp32 there"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
# The raw file is written after every finished run, so what ends before LIMIT seconds comes back.
timeout "${LIMIT:-540}" node bench/hierarchy.mjs --parallel "${PARALLEL:-6}" --data-root $R/bench/data --tag h200 ${ARGS:-clinc150 wos} || true
cp bench/results/hierarchy-*h200*.json "$OUT/bench/results/" || true
