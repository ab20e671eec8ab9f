#!/usr/bin/env bash
# Few-shot benchmark on the device: Hone's fine-tuning, few-shot and zero-shot (the real CLI),
# CLINC150 and BANKING77 at 5 and 10 shots, 3 seeds. Carried (pack here with `bash bench/gpu/fewshot.sh pack`):
#   .carry/hone-node.tar.xz, .carry/whl   bench/gpu/pack-node.sh (node, Hone, jsonschema wheels)
#   .carry/fewshot-data.tar.xz  the DNNC splits and the default model packed (bench/gpu/pack_minilm.py)
# The two data sets run side by side (one process each, one GPU): accuracy is unaffected, wall
# times are those of two processes sharing the machine. Writes bench/results/fewshot-*-<gpu>.json under $OUT (h100, h200: the card it ran on; each run records it too).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ ${1:-} == pack ]]; then
  D=../shared/data T=$(mktemp -d)
  mkdir -p .carry/whl $T/fsd/data/clinc150 $T/fsd/data/banking77
  for ds in clinc150 banking77; do
    sort -u $D/$ds/dnnc_format/train_5/label | tr '_A-Z' ' a-z' > $T/$ds-labels.seq.in
    cp -r $D/$ds/dnnc_format $T/fsd/data/$ds/ && rm -rf $T/fsd/data/$ds/dnnc_format/oos
  done
  .venv/bin/python bench/gpu/pack_minilm.py "${HONE_MODELS:-$HOME/.cache/hone/models}/all-minilm-l6-v2" $T/fsd/models/all-minilm-l6-v2 \
    $D/clinc150/dnnc_format/*/seq.in $D/banking77/dnnc_format/*/seq.in $T/*-labels.seq.in
  tar -cJf .carry/fewshot-data.tar.xz -C $T/fsd models data
  rm -rf $T
  bash bench/gpu/pack-node.sh
  du -sh .carry/*
  exit 0
fi
OUT=${OUT:-bench/out}
R=bench/out/device
mkdir -p $R/rt $R/bench "$OUT/bench/results"
python3 -c "import jsonschema" 2>/dev/null || python3 -m pip install -q --no-index --find-links .carry/whl jsonschema
# A warm machine keeps what an earlier call unpacked (bench/out is ignored): carry .carry only once.
if [[ ! -x $R/rt/hone/node ]]; then
  tar -xJf .carry/hone-node.tar.xz -C $R/rt
  tar -xJf .carry/fewshot-data.tar.xz -C $R/bench
  python3 bench/gpu/unpack_minilm.py $R/bench/models/all-minilm-l6-v2
fi
rm -rf dist node_modules && cp -r $R/rt/hone/dist $R/rt/hone/node_modules .
export PATH=$PWD/$R/rt/hone:$PATH HONE_PYTHON=$(command -v python3) HONE_MODELS=$PWD/$R/bench/models BENCH_DATA=$PWD/$R/bench/data PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers; print(torch.__version__, transformers.__version__)"
for m in sklearn scipy pandas pyarrow datasets sentence_transformers setfit; do python3 -c "import $m; print('$m', $m.__version__)" 2>/dev/null || echo "$m missing"; done
methods=${METHODS:-finetune,fewshot,zeroshot}
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o "H[0-9]\+" | head -1 | tr H h)
# The SetFit peer: what the device lacks of it travels as wheels in .carry/peers (its numeric
# dependencies, sklearn, scipy, pandas and pyarrow, are already there).
export BENCH_PEER_WHEELS=$PWD/.carry/peers BENCH_PEER_PACKAGES="setfit==1.2.0 datasets==4.3.0 evaluate dill==0.3.8 multiprocess==0.70.16 xxhash cloudpickle"
# PLAN: "shots:seeds[:methods] ..." run in order per data set, e.g. "5:2 5:0,1,2:setfit"; each
# run's JSON is written as it ends, so what finished before LIMIT seconds comes back.
# SPLIT=1: every plan item of every data set in its own process, all at once (seeds side by side:
# accuracy is unaffected, wall times are those of processes sharing the machine).
pids=()
for ds in clinc150 banking77; do
  plan_of=PLAN_$ds # PLAN_clinc150=... for one data set's own plan
  if [[ ${SPLIT:-0} == 1 ]]; then
    for p in ${!plan_of:-${PLAN:-5:0,1,2 10:0,1,2}}; do
      IFS=: read -r k seeds m <<< "$p"
      node bench/fewshot.mjs run --datasets $ds --shots "$k" --seeds "$seeds" --methods "${m:-$methods}" --tag $GPU-s${seeds//,/_} > $R/$ds-$k-${seeds//,/_}.log 2>&1 &
      pids+=($!)
    done
    continue
  fi
  (for p in ${!plan_of:-${PLAN:-5:0,1,2 10:0,1,2}}; do
    IFS=: read -r k seeds m <<< "$p"
    node bench/fewshot.mjs run --datasets $ds --shots "$k" --seeds "$seeds" --methods "${m:-$methods}" --tag $GPU || true
  done) > $R/$ds.log 2>&1 &
  pids+=($!)
done
alive() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
end=$((SECONDS + ${LIMIT:-520}))
while alive && ((SECONDS < end)); do sleep 5; done
pkill -f "bench/fewshot.mjs" || true
tail -n 40 $R/*.log
cp bench/results/fewshot-*-$GPU*.json "$OUT/bench/results/" || true
