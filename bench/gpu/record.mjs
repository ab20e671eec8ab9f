// Writes the GPU section of docs/benchmarks.md from the gpu.json files that bench/gpu/run.sh left
// in $OUT on the device (one file per run): node bench/gpu/record.mjs run1/gpu.json run2/gpu.json
import { readFileSync, writeFileSync, existsSync } from "node:fs";

// Rows already in the table are kept (earlier runs on other machines); the new runs are appended.
const runs = process.argv.slice(2).map((f) => JSON.parse(readFileSync(f, "utf8")));
const path = new URL("../../docs/benchmarks.md", import.meta.url);
let doc = existsSync(path) ? readFileSync(path, "utf8") : "# Benchmarks\n";
const old = (doc.match(/<!-- gpu:start -->[\s\S]*<!-- gpu:end -->/)?.[0] ?? "").split("\n").filter((l) => /^\| \d+/.test(l));
const wall = (v) => (v === undefined ? "-" : `${v.toFixed(0)} s`);
const order = (r) => (r.pair ? ` (pair ${r.pair}, ${r.first === "hf" ? "HF" : "Hone"} first)` : "");
const rows = [
  ...old,
  ...runs.map(
    (r, i) =>
      `| ${old.length + i + 1}${order(r)} | ${r.gpu.split(",")[0]} | ${r.versions} | ${r.compile ? "yes" : "no"} | ${r.batch_size} | ${r.steps} | ${r.hone_samples_per_s.toFixed(0)} | ${r.hf_samples_per_s.toFixed(0)} | ${r.ratio.toFixed(2)}x | ${wall(r.hone_engine_wall_s)} | ${wall(r.hf_wall_s)} |`,
  ),
];
const section = [
  "<!-- gpu:start -->",
  "## GPU throughput: Hone engine vs a plain Hugging Face loop",
  "",
  "Command: `bash bench/gpu/pack.sh` here, `PAIRS=2 bash bench/gpu/run.sh` on the device (Hone with its default `train.compile: auto` unless `COMPILE=false`) (carrying `.carry` and `.whl`; each pair alternates which side runs first), then `node bench/gpu/record.mjs <gpu-N.json>...` here (raw: `bench/results/gpu-classify-*.json`).  ",
  "Model: bert-base shape (hidden 768, 12 layers, 12 heads, random weights), CLINC150 train texts (mean 11 tokens, max_length 64), batch 32, 2 epochs, bf16 autocast, AdamW, linear schedule. Hone runs through the real CLI (`hone train`); the peer is `bench/gpu/hf_loop.py` (AutoModelForSequenceClassification, DataCollatorWithPadding, SDPA). Samples/s after 20 warm-up steps, same machine, back to back.",
  "",
  "| run | GPU | torch / transformers | Hone compile | batch | steps | Hone samples/s | HF loop samples/s | ratio | Hone engine wall (training loop) | HF loop wall (training loop) |",
  "|---|---|---|---|---|---|---|---|---|---|---|",
  ...rows,
  "",
  "Reading: only ratios within one run compare (the peer itself measured 565 to 765 samples/s on different machines of the same kind). Runs 1, 2 and 3-4 ran on three different machines. Runs 1 and 2 are about even (1.03x, 0.95x; run 1 still synchronised on the loss every step, run 2 no longer does); on the machine of runs 3-4 Hone is 1.31x eager and finishes the same 920 steps in 45 s of training loop against the peer's 56 s. With `train.compile: true` (then compiling the whole encoder) steady-state throughput rose further, but compilation cost about 140 s, which a 2-epoch run did not win back, so it was off by default. Runs 5-6 (H200, one machine, 2026-12-02) alternate the order: each side is about 10% faster when it runs first (Hone 1016 first vs 894 second; the peer 911 first vs 853 second), so a single back-to-back pair mostly measures the order. Balanced over the order, Hone is 1.08x (geometric mean of the pairs; means 955 vs 882 samples/s), but the pair where the peer went first came out 0.98x: \"not slower\" holds on average, not in every pair. Runs 7-8 (H200, another machine, 2026-12-02) use the default config as it is now: `train.compile: auto`, on for a GPU, compiles each of the 12 encoder layers, one graph shared by all of them, instead of the whole encoder. Hone 681 and 746 samples/s against the peer's 607 and 632: 1.12x with Hone first, 1.18x with the peer first, so not slower in either order. Compilation costs seconds now: the engine's whole training loop, compilation included, took 84 s with a cold compile cache (pair 1) and 52 s with it warm (pair 2), against the peer's 51 s and 50 s; in its last seconds Hone ran at 750-800 samples/s. The table's \"Hone compile\" column says what `auto` resolved to.",
  "",
  "Physical limit: a step of bert-base on 32 x ~14 tokens is ~0.1 TFLOP, well under a millisecond of H100 compute, yet a step takes 40-50 ms. A probe on the device measured ~19 ms of host time in the forward and ~20 ms in the backward: the step is bound by Python and kernel launches, not by the GPU. What removes that (CUDA graphs over bucketed lengths, compile warm caches) is the next step",
  "<!-- gpu:end -->",
].join("\n");
doc = doc.includes("<!-- gpu:start -->") ? doc.replace(/<!-- gpu:start -->[\s\S]*<!-- gpu:end -->/, section) : `${doc}\n${section}\n`;
writeFileSync(path, doc);
console.log(section);
