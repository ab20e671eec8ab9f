#!/usr/bin/env bash
# GPU throughput: Hone's engine (driven by the real CLI) vs a plain HF loop, same model, data,
# epochs, batch size and precision, one after the other on the same GPU. Run on the device with
# the runtime in .carry (see docs/benchmarks.md); writes $OUT/gpu.json and prints a table.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/out}; mkdir -p "$OUT" /tmp/hone-rt
xz -dc .carry/node.xz > /tmp/hone-rt/node && chmod +x /tmp/hone-rt/node
tar -xJf .carry/runtime.tar.xz -C .
export PATH=/tmp/hone-rt:$PATH HONE_PYTHON=$(command -v python3) PYTHONUNBUFFERED=1
EPOCHS=${EPOCHS:-2}; BS=${BS:-32}
python3 bench/gpu/make_model.py /tmp/bert-base .carry/tokenizer.json >/dev/null
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu-name.txt"
python3 -c "import torch, transformers; print(torch.__version__, transformers.__version__)" | tee "$OUT/versions.txt"
# PAIRS=n repeats the comparison n times, alternating which side goes first (the machine's speed
# drifts; a ratio is only read within one pair). Each pair writes $OUT/gpu-<i>.json.
hone_run() {
  # Hone: validation 0 and one evaluation at the very end, so checkpoints do not fall inside the timing.
  node bin/hone --store /tmp/hone-store train --json --set 'data.train={path: .carry/data_full.json, pointer: /train}' \
    --set 'data.text="0"' --set 'data.label="1"' --set data.split.validation=0 --set data.split.test=0.02 \
    --model /tmp/bert-base --epochs "$EPOCHS" --set train.batch_size=$BS --lr 5e-5 --set data.max_length=64 \
    --set train.eval_every=100000 --set train.compile=${COMPILE:-auto} > "$OUT/hone.jsonl"
}
hf_run() { python3 bench/gpu/hf_loop.py /tmp/bert-base .carry/data_full.json "$EPOCHS" "$BS" | tail -1 > "$OUT/hf.json"; }
for i in $(seq 1 "${PAIRS:-1}"); do
  if (( i % 2 )); then hone_run; hf_run; first=hone; else hf_run; hone_run; first=hf; fi
  python3 - "$OUT" "$BS" "${COMPILE:-auto}" "$i" "$first" <<'PY'
import json, sys
out, bs, pair, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[4]), sys.argv[5]
ev = [json.loads(l) for l in open(f"{out}/hone.jsonl") if l.startswith("{")]
prog = [e for e in ev if e.get("type") == "progress"]
a = next(p for p in prog if p["step"] >= 20); b = prog[-1]
hone = (b["step"] - a["step"]) * bs / (b["elapsed_s"] - a["elapsed_s"])
hf = json.load(open(f"{out}/hf.json"))
done = next(e for e in ev if e.get("type") == "done")
res = {"gpu": open(f"{out}/gpu-name.txt").read().strip(), "versions": open(f"{out}/versions.txt").read().strip(),
       "hone_samples_per_s": hone, "hf_samples_per_s": hf["samples_per_s"], "ratio": hone / hf["samples_per_s"],
       "steps": b["step"], "batch_size": bs, "compile": sys.argv[3] != "false", "hone_engine_wall_s": done["runtime_s"], "hf_wall_s": hf["wall_s"],
       "hone_final_loss": b["loss"], "hf_final_loss": hf["final_loss"], "pair": pair, "first": first}
json.dump(res, open(f"{out}/gpu-{pair}.json", "w"), indent=2)
print(f"| {pair} ({first} first) | {res['gpu']} | {bs} | {hone:.0f} | {hf['samples_per_s']:.0f} | {res['ratio']:.2f}x |", flush=True)
PY
done
