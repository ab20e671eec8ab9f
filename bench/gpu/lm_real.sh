#!/usr/bin/env bash
# #23's GPU measurements in short device calls (a call's results come back only when it ends),
# raw JSON to $OUT:
#   1  packed real data (CLINC150 as chat), the 1.24B Llama shape: Hone packed (variable-length
#      attention) / packed with transformers' mask / unpacked vs HF + PEFT (padded, packed)
#   2  Unsloth (LoRA on the same real data; LoRA and QLoRA on random full rows) beside Hone's LoRA and
#      QLoRA on the same rows
#   3  the 8B Llama shape, LoRA, seq 4096: tokens/s, MFU, peak memory
#   5  part 1 again (the engine's layers compiled for symbolic shapes)
#   4  extra peers and the SmolLM2-135M shape on the real data (HF + Liger, HF + PEFT QLoRA)
#   6  real data, one call: Hone packed / unpacked, HF + PEFT packed, Unsloth padded / packed
#   7  random full rows: Hone LoRA and QLoRA against Unsloth's
#   8  what memory costs: full fine-tuning with AdamW on the GPU / offloaded to the host, LoRA with
#      every layer checkpointed; then the 8B shape (T: its limit)
#   9  real data, one call: Unsloth on the packed rows, then Hone packed under activation budgets
#      1, 0.8, 0.6 (train.activation_budget; ONLY overrides; STEPS: timed steps, default 16)
#  10  random full rows: Unsloth LoRA and QLoRA, Hone LoRA (budget 1 and 0.8) and QLoRA
#  12  real data, 30 timed steps: Unsloth on the packed rows, then Hone under activation budget 0.8
#      (T: its limit)
#  13  packed real data: the engine as it is (FlexAttention for short packed sequences, landed after
#      6037fd5) against the engine of BASE (a commit; default 6037fd5, the variable-length kernel
#      alone), alternating ROUNDS times, Unsloth packed beside (NO_PEER=1 leaves Unsloth out,
#      TESTS=none the GPU tests, ATTN=1 adds the kernel probe)
#  14  packed real data, the next questions in one call: this engine's GPU tests (the masked path of
#      pre-Ampere GPUs on CUDA too), Unsloth packed (NO_PEER=1 leaves it out), then this engine
#      against itself with bench/patches/pack-width-128.patch (packed widths padded to whole
#      128-token blocks: FlexAttention's divisible path), alternating ROUNDS times
#  15  packed real data: FlexAttention compiled for symbolic shapes against one shape, in the kernel
#      probe (bench/gpu/packed_attn.py, the flex rows with the mask made beforehand) and in the engine (bench/patches/
#      pack-static-width.patch: packed batches one width, layers compiled for it), ROUNDS times
#  16  packed real data: the one-shape engine with 64 x 64 forward tiles
#      (bench/patches/pack-static-width-64.patch) against its default 128 x 128, ROUNDS times
#  17  random full rows: Unsloth LoRA (NO_PEER=1 leaves it out), then this engine against itself with
#      bench/patches/coordinate-descent.patch (Inductor tunes its fused kernels' block sizes),
#      activation budget 0.8, ROUNDS times
#  18  the issue's table on real data for one shape (SHAPE: smollm2-135m, the default, or llama-1b):
#      Unsloth padded and packed, HF + PEFT + Liger padded and packed (each in an invocation of its
#      own: both patch transformers), then Hone packed and unpacked, HF + PEFT eager and with its
#      layers compiled, padded and packed. UNSLOTH, LIGER, REST: those parts' runs (empty: left
#      out); STEPS timed steps (default 40), T: the last part's limit
#   t  this engine's GPU tests alone (TESTS: the -k expression; T: their limit, default 240)
#  11  where a step's time goes (bench/gpu/lm_profile.py): packed real rows (budget 1 and 0.8),
#      random full rows (compiled for their one shape, and for symbolic shapes)
# Carry .carry/: the shards (`node bench/lm.mjs shards`), and unpacked, xz'd wheels for the machine's
# Python 3.12 (`bash bench/gpu/pack-peers.sh`: js.tar.xz, jsonschema for the engine; peers.tar.xz,
# Unsloth and its dependencies; liger.tar.xz; bnb.tar.xz, bitsandbytes for CUDA 13).
#   bash bench/gpu/lm_real.sh 1|2|3|4|5|6|7|8
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/out}
mkdir -p "$OUT" /tmp/liger /tmp/bnb /tmp/site /tmp/js
export PYTHONUNBUFFERED=1
tar -xJf .carry/js.tar.xz -C /tmp/js
tar -xJf .carry/bnb.tar.xz -C /tmp/bnb
# bitsandbytes from the carry only where the machine has none (a folder of its own: nothing shadowed)
python3 -c "import bitsandbytes" 2>/dev/null || BNB=/tmp/bnb
export PYTHONPATH=/tmp/js:${BNB:-}
SPEED="python3 bench/gpu/lm_speed.py"
environment() { # Python, the GPU and the libraries, to $OUT/env.txt and the log
  {
    python3 -V
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)"
  } > "$OUT/env.txt" 2>&1
  cat "$OUT/env.txt"
}
REAL="--data .carry/clinc-chat"
patched() { # DIR PATCH [COMMIT]: COMMIT's engine (default HEAD) in DIR with PATCH applied (the
  # device's copy is a git checkout). The patches of calls 14-16 were written against 59b3f18's.
  mkdir -p "$1" && git archive "${3:-HEAD}" engine | tar -x -C "$1" && (cd "$1" && git apply "$OLDPWD/$2")
}
gpu_tests() { # LIMIT -k EXPRESSION: the engine's tests of test_lm.py on the GPU, the failures in full
  # (to a file, not a pipe: a call of 2026-12-07 whose tests ran into `timeout` brought back no
  # output at all, most likely because Inductor's compile workers outlived pytest and held the pipe
  # to `tail` open until the call's own limit)
  local limit=$1
  shift
  PYTHONPATH=engine:$PYTHONPATH timeout -k 10 "$limit" python3 -m pytest -q -rf engine/tests/test_lm.py "$@" > "$OUT/gpu-tests.txt" 2>&1
  grep -E "^(FAILED|ERROR)|passed|failed|error" "$OUT/gpu-tests.txt" | tail -8
}
unsloth_packed() { # Unsloth on the same packed rows (NO_PEER=1 leaves it out)
  [ -n "${NO_PEER:-}" ] && return
  tar -xJf .carry/peers.tar.xz -C /tmp/site
  PYTHONPATH=/tmp/site:$PYTHONPATH timeout 130 $SPEED $REAL --steps ${STEPS:-30} --warmup 6 --only unsloth_lora_packed --out-name unsloth-real.json 2>&1 | grep -v Warning
}
engine_ab() { # ENGINES OUT-NAME: engine checkouts alternated ROUNDS times on the packed rows, budget 0.8
  # (the engines' stderr files share a name: the last engine's, with its recompiles, comes back)
  TORCH_LOGS=recompiles timeout ${T:-300} $SPEED $REAL --steps ${STEPS:-30} --warmup 8 --only hone_lora_compile_packed_b80 --rounds ${ROUNDS:-1} --engines "$1" --out-name "$2"
}
case "$1" in
t)
  environment
  gpu_tests ${T:-240} -k "${TESTS:-varlen or flex or packed or lifted}"
  ;;
1)
  environment
  # The variable-length kernel against SDPA with the block mask, outputs and gradients (bf16).
  gpu_tests 60 -k "varlen or packed"
  timeout 250 $SPEED $REAL --steps 12 --warmup 4 --only hone_lora_compile_packed,hone_lora_compile,hf_lora,hf_lora_packed,hone_lora_compile_packed_mask --out-name real-llama-1b.json
  ;;
2)
  tar -xJf .carry/peers.tar.xz -C /tmp/site
  PYTHONPATH=/tmp/site:$PYTHONPATH timeout 100 $SPEED $REAL --steps 12 --warmup 4 --only unsloth_lora --out-name unsloth-real.json 2>&1 | grep -v Warning
  PYTHONPATH=/tmp/site:$PYTHONPATH timeout 100 $SPEED --steps 12 --warmup 4 --only unsloth_lora,unsloth_qlora --out-name unsloth-random.json 2>&1 | grep -v Warning
  timeout 160 $SPEED --steps 12 --warmup 4 --only hone_lora_compile,hone_qlora_compile,hone_lora_compile_ckpt_half,hone_lora_compile_ckpt --out-name random-1b.json
  ;;
3)
  timeout 230 $SPEED --shape llama-8b --seq 4096 --batch 2 --steps 8 --warmup 3 --only peak,hone_lora_compile --out-name llama-8b.json
  ;;
5)
  # Part 1 again after the engine compiles its layers for symbolic shapes on real lengths (part 1's
  # Hone runs recompiled inside their timed steps), with longer warm-up.
  timeout ${T:-222} $SPEED $REAL --steps 16 --warmup 8 --only ${ONLY:-hone_lora_compile_packed,hf_lora_packed,hone_lora_compile,hf_lora,hone_lora_compile_packed_mask} --out-name real-llama-1b-2.json
  ;;
4)
  tar -xJf .carry/liger.tar.xz -C /tmp/liger
  PYTHONPATH=/tmp/liger:$PYTHONPATH timeout 100 $SPEED $REAL --steps 15 --warmup 5 --only hf_lora_liger --out-name real-llama-1b-liger.json
  timeout 150 $SPEED $REAL --shape smollm2-135m --steps 60 --warmup 8 --only hone_lora_compile_packed,hone_lora_compile,hf_lora,hf_lora_packed --out-name real-smollm2.json
  timeout 100 $SPEED --steps 15 --warmup 5 --only hf_qlora --out-name random-1b-hf-qlora.json
  ;;
6)
  tar -xJf .carry/peers.tar.xz -C /tmp/site
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  PYTHONPATH=/tmp/site:$PYTHONPATH timeout 150 $SPEED $REAL --steps 16 --warmup 6 --only unsloth_lora_packed,unsloth_lora --out-name unsloth-real.json 2>&1 | grep -v Warning
  timeout ${T:-300} $SPEED $REAL --steps 16 --warmup 8 --only hone_lora_compile_packed,hf_lora_packed,hone_lora_compile --out-name real-llama-1b-3.json
  ;;
7)
  tar -xJf .carry/peers.tar.xz -C /tmp/site
  PYTHONPATH=/tmp/site:$PYTHONPATH timeout 160 $SPEED --steps 12 --warmup 4 --only unsloth_lora,unsloth_qlora --out-name unsloth-random.json 2>&1 | grep -v Warning
  timeout ${T:-260} $SPEED --steps 12 --warmup 4 --only hone_lora_compile,hone_qlora_compile --out-name random-1b.json
  ;;
8)
  timeout 330 $SPEED --steps 10 --warmup 4 --only hone_full_compile,hone_full_compile_offload,hone_lora_compile_ckpt --out-name memory-1b.json
  timeout ${T:-230} $SPEED --shape llama-8b --seq 4096 --batch 2 --steps 8 --warmup 3 --only peak,hone_lora_compile --out-name llama-8b.json
  ;;
9)
  tar -xJf .carry/peers.tar.xz -C /tmp/site
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  PYTHONPATH=/tmp/site:$PYTHONPATH timeout 120 $SPEED $REAL --steps ${STEPS:-16} --warmup 6 --only unsloth_lora_packed --out-name unsloth-real.json 2>&1 | grep -v Warning
  TORCH_LOGS=recompiles timeout ${T:-420} $SPEED $REAL --steps ${STEPS:-16} --warmup 8 --only ${ONLY:-hone_lora_compile_packed,hone_lora_compile_packed_b80,hone_lora_compile_packed_b60,hone_lora_compile_packed_b40} --out-name real-llama-1b-budget.json
  ;;
10)
  tar -xJf .carry/peers.tar.xz -C /tmp/site
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  PYTHONPATH=/tmp/site:$PYTHONPATH timeout 160 $SPEED --steps 12 --warmup 4 --only unsloth_lora,unsloth_qlora --out-name unsloth-random.json 2>&1 | grep -v Warning
  timeout ${T:-400} $SPEED --steps 12 --warmup 4 --only ${ONLY:-hone_lora_compile,hone_lora_compile_b80,hone_qlora_compile} --out-name random-1b.json
  ;;
12)
  # (runs 7-9 also ran HONE_PACKED_ATTENTION=flex, since taken out: bench/gpu/flex_check.py)
  environment
  unsloth_packed
  timeout ${T:-240} $SPEED $REAL --steps ${STEPS:-30} --warmup 8 --only ${ONLY:-hone_lora_compile_packed_b80} --out-name real-varlen.json
  ;;
13)
  # FlexAttention for packed short sequences against the engine of BASE (built here from the
  # repository: the device's copy is a git checkout), same call, Unsloth on the same packed rows
  # beside; this engine's attention tests on the GPU first.
  mkdir -p /tmp/base && git archive "${BASE:-6037fd5}" engine | tar -x -C /tmp/base
  environment
  [ "${TESTS:-}" != none ] && gpu_tests 240 -k "${TESTS:-varlen or flex or packed or lifted}"
  [ -n "${ATTN:-}" ] && PYTHONPATH=$PYTHONPATH timeout 100 python3 bench/gpu/packed_attn.py --engine "$PWD/engine" --only "flex, mask made" | tee "$OUT/packed-attn-flex.jsonl"
  unsloth_packed
  engine_ab "${ENGINES:-flex=$PWD/engine,varlen=/tmp/base/engine}" real-flex-ab.json
  ;;
14)
  patched /tmp/pad128 bench/patches/pack-width-128.patch 59b3f18
  environment
  gpu_tests 240 -k "varlen or flex or packed or lifted"
  unsloth_packed
  engine_ab "flex=$PWD/engine,pad128=/tmp/pad128/engine" real-pad-ab.json
  ;;
15)
  # Why FlexAttention takes 1.9 ms a layer in the engine and 1.1 in the probe: the engine against
  # itself with bench/patches/pack-static-width.patch (every packed batch one width, layers compiled
  # for it), then the probe's flex rows with the mask made beforehand (one shape / symbolic shapes,
  # the engine's mask, 64-token blocks and tiles, fewer warps)
  patched /tmp/static bench/patches/pack-static-width.patch 59b3f18
  mkdir -p /tmp/symbolic && git archive 59b3f18 engine | tar -x -C /tmp/symbolic  # the engine it ran against
  environment
  engine_ab "static=/tmp/static/engine,flex=/tmp/symbolic/engine" real-static-ab.json
  timeout 200 python3 bench/gpu/packed_attn.py --engine "$PWD/engine" --steps 30 --only "made beforehand" 2>&1 | grep -v Warning | tee "$OUT/packed-attn-flex.jsonl" | cut -c1-300
  ;;
17)
  patched /tmp/cd bench/patches/coordinate-descent.patch
  environment
  if [ -z "${NO_PEER:-}" ]; then
    tar -xJf .carry/peers.tar.xz -C /tmp/site
    PYTHONPATH=/tmp/site:$PYTHONPATH timeout 100 $SPEED --steps ${STEPS:-30} --warmup 6 --only unsloth_lora --out-name unsloth-rows.json 2>&1 | grep -v Warning
  fi
  timeout ${T:-300} $SPEED --steps ${STEPS:-30} --warmup 8 --only hone_lora_compile_b80 --rounds ${ROUNDS:-1} --engines "this=$PWD/engine,cd=/tmp/cd/engine" --out-name rows-cd-ab.json
  ;;
18)
  environment
  TABLE="$REAL --shape ${SHAPE:-smollm2-135m} --steps ${STEPS:-40} --warmup 8"
  UNSLOTH=${UNSLOTH-unsloth_lora,unsloth_lora_packed}
  LIGER=${LIGER-hf_lora_liger,hf_lora_liger_packed}
  REST=${REST-hone_lora_compile_packed,hone_lora_compile,hf_lora,hf_lora_packed,hf_lora_compile,hf_lora_compile_packed}
  if [ -n "$UNSLOTH" ]; then
    tar -xJf .carry/peers.tar.xz -C /tmp/site
    PYTHONPATH=/tmp/site:$PYTHONPATH timeout 170 $SPEED $TABLE --only "$UNSLOTH" --out-name table-unsloth.json 2>&1 | grep -v Warning
  fi
  if [ -n "$LIGER" ]; then
    tar -xJf .carry/liger.tar.xz -C /tmp/liger
    PYTHONPATH=/tmp/liger:$PYTHONPATH timeout 120 $SPEED $TABLE --only "$LIGER" --out-name table-liger.json
  fi
  [ -n "$REST" ] && timeout ${T:-300} $SPEED $TABLE --only "$REST" --out-name table.json
  ;;
16)
  # 64 x 64 forward tiles in the one-shape engine (bench/patches/pack-static-width-64.patch)
  # against the one-shape engine with its default 128 x 128
  patched /tmp/static bench/patches/pack-static-width.patch 59b3f18
  patched /tmp/static64 bench/patches/pack-static-width-64.patch 59b3f18
  environment
  engine_ab "static64=/tmp/static64/engine,static=/tmp/static/engine" real-static64-ab.json
  ;;
11)
  environment
  $SPEED $REAL --only peak --out-name peak-real.json > /dev/null  # the models lm_profile.py loads
  $SPEED --only peak --out-name peak.json
  for a in "$REAL" "$REAL --budget 0.8 --tag=-b80" "" "--varying --tag=-varying"; do
    timeout ${T:-150} python3 bench/gpu/lm_profile.py --steps ${STEPS:-8} $a 2>&1 | grep -v Warning | head -45
  done
  ;;
esac
# The device returns at most 8 files a call: the engines' event logs and stderr travel as one archive.
(cd "$OUT" && ls events-* stderr-* > /dev/null 2>&1 && tar -cJf engine-logs.tar.xz events-* stderr-* && rm -f events-* stderr-*)
exit 0
