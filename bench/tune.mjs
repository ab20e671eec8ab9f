// Benchmark: does pruning pay on a real task? The same random search (same seed, so the same
// configurations) once without pruning and once with ASHA, on BANKING77 with the default model;
// then the best config retrained and tested once against the default config, same budget.
//   node bench/tune.mjs [--data-root ../shared/data] [--trials 16] [--parallel 4] [--smoke] [--part full|rest]
//   node bench/tune.mjs --record <tune.json> [--tag h200]  # keep a device run as bench/results/tune-<tag>.json
//   node bench/tune.mjs render                             # the "tune" section from the newest bench/results/tune-*.json
// A run writes bench/out/tune.json and bench/results/tune-<tag>.json (--tag, default cpu), then renders.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { loadResults, root, saveResult, writeDocSection } from "./lib.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i === -1 ? dflt : args[i + 1];
};
const record = opt("--record", null);
const tag = opt("--tag", record ? "h200" : "cpu");
const smoke = args.includes("--smoke");
// --part full | rest: the two halves in separate invocations (device calls are time-limited).
const part = opt("--part", "all");
const dataRoot = resolve(opt("--data-root", join(root, "..", "shared", "data")));
const trials = Number(opt("--trials", smoke ? "4" : "16"));
const parallel = Number(opt("--parallel", smoke ? "2" : "4"));
const out = resolve(opt("--out", join(root, "bench", "out")));
const store = join(out, "tune-store");
const config = join(root, "bench", "configs", "banking77-tune.yaml");
const common = [
  "--set",
  `data.train=${join(dataRoot, "banking77", "train.csv")}`,
  "--set",
  `data.test=${join(dataRoot, "banking77", "test.csv")}`,
  "--set",
  `tune.trials=${trials}`,
  "--set",
  `tune.parallel=${parallel}`,
  ...(smoke ? ["--set", "train.epochs=3", "--set", "train.max_steps=6", "--set", "train.eval_every=2"] : []),
];

function hone(argv) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(root, "bin", "hone"), "--store", store, ...argv], {
    encoding: "utf8",
    maxBuffer: 1 << 28,
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (r.status !== 0) throw new Error(`hone ${argv.join(" ")} failed (exit ${r.status})`);
  const lines = r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
  return { lines, seconds: (performance.now() - t0) / 1000 };
}

function study(name, sets, extra = []) {
  process.stderr.write(`== study ${name}\n`);
  const { lines, seconds } = hone(["tune", config, "--study", name, ...common, ...sets, ...extra, "--json"]);
  const ends = lines.filter((l) => l.kind === "trial-end").map((l) => l.trial);
  const result = lines.find((l) => l.kind === "result");
  const done = ends.filter((t) => t.state === "complete" || t.state === "pruned");
  return {
    name,
    trials: ends.length,
    complete: ends.filter((t) => t.state === "complete").length,
    pruned: ends.filter((t) => t.state === "pruned").length,
    best: result.best ? result.best.values[0] : null,
    best_params: result.best?.params ?? null,
    epochs: done.reduce((a, t) => a + (t.epochs ?? 0), 0),
    trial_seconds: done.reduce((a, t) => a + (t.seconds ?? 0), 0),
    wall: seconds,
    final: result.final ? { run: result.final.run, test: { accuracy: result.final.test?.accuracy ?? null } } : null,
  };
}

function header() {
  const py = spawnSync(
    process.env.HONE_PYTHON ?? join(root, ".venv", "bin", "python"),
    [
      "-c",
      "import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU')",
    ],
    { encoding: "utf8" },
  );
  return {
    date: new Date().toISOString().slice(0, 10),
    machine: `${py.stdout.trim()}; ${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`,
    command: `node bench/tune.mjs --trials ${trials} --parallel ${parallel}`,
  };
}

async function runAll() {
  mkdirSync(out, { recursive: true });
  if (part !== "rest") rmSync(store, { recursive: true, force: true });
  const full = part === "rest" ? JSON.parse(readFileSync(join(out, "tune-full.json"), "utf8")) : study("random-full", ["--set", "tune.pruner=none"]);
  writeFileSync(join(out, "tune-full.json"), JSON.stringify(full, null, 2));
  if (part === "full") return null;
  const asha = study("random-asha", ["--set", "tune.pruner=asha"], ["--final"]);
  process.stderr.write("== default config\n");
  const def = hone(["train", config, ...common, "--name", "default-config", "--json"]);
  const defResult = def.lines.find((l) => l.kind === "result");
  const res = {
    ...header(),
    trials,
    parallel,
    studies: [full, asha],
    default: { test_accuracy: defResult.test?.accuracy ?? null, validation_accuracy: defResult.validation?.accuracy ?? null, wall: def.seconds },
  };
  writeFileSync(join(out, "tune.json"), JSON.stringify(res, null, 2));
  return res;
}

const pct = (v) => (v === null || v === undefined ? "-" : `${(v * 100).toFixed(2)}%`);

function writeDocs(r, file) {
  const [full, asha] = r.studies;
  const rows = r.studies.map(
    (s) =>
      `| ${s.name} | ${s.trials} | ${s.complete} | ${s.pruned} | ${pct(s.best)} | ${s.epochs.toFixed(1)} | ${s.trial_seconds.toFixed(0)} s | ${s.wall.toFixed(0)} s |`,
  );
  const quality = asha.best / full.best;
  const compute = asha.epochs / full.epochs;
  const seconds = asha.trial_seconds / full.trial_seconds;
  const tunedTest = asha.final?.test?.accuracy ?? null;
  const lines = [
    "<!-- tune:start -->",
    "## Hyperparameter search: does pruning pay? (BANKING77)",
    "",
    `Command: \`${r.command}\` on the device (runtime carried as for the GPU benchmark), \`node bench/tune.mjs --record <tune.json>\` here; \`node bench/tune.mjs render\` for the table (raw: \`bench/results/${file}\`)  `,
    `Machine: ${r.machine}  `,
    `Date: ${r.date}`,
    "",
    `all-MiniLM-L6-v2 on BANKING77 (10% of the official train split held out for validation, seed 42; official test split). Space: lr loguniform(1e-5, 1e-3), batch size {16, 32, 64}, warmup ratio [0, 0.2], weight decay [0, 0.1], head dropout [0, 0.3], frozen layers 0-4; 9 epochs per trial, validation accuracy every epoch. Both studies use the random sampler with the same seed, so they try the same ${r.trials} configurations; ASHA (min 1 epoch, reduction factor 3: rungs at 1 and 3 epochs) stops the unpromising ones. ${r.parallel} trials at a time on the one GPU. Compute = epochs trained over all trials (trial seconds: the sum of the trials' wall times).`,
    "",
    "| study | trials | ran to the end | pruned | best validation accuracy | epochs trained | trial seconds | wall |",
    "|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    `ASHA reaches **${(quality * 100).toFixed(2)}%** of the un-pruned search's best validation accuracy with **${(compute * 100).toFixed(1)}%** of its compute (epochs; ${(seconds * 100).toFixed(1)}% of its trial seconds): ${quality >= 0.99 && compute <= 0.4 ? "meets" : "does not meet"} the target (>= 99% with <= 40%).`,
    "",
    `Best ASHA config retrained (\`--final\`) and tested once: test accuracy ${pct(tunedTest)}; the default config, same epochs: ${pct(r.default.test_accuracy)} (${tunedTest !== null && r.default.test_accuracy !== null ? (tunedTest > r.default.test_accuracy ? `tuned +${((tunedTest - r.default.test_accuracy) * 100).toFixed(2)} points` : `tuned ${((tunedTest - r.default.test_accuracy) * 100).toFixed(2)} points`) : "-"}). Best config: \`${JSON.stringify(asha.best_params)}\`.`,
    "<!-- tune:end -->",
  ].join("\n");
  writeDocSection("tune", lines);
  console.log(lines);
}

const render = () => {
  const r = loadResults(/^tune-.*\.json$/).at(-1);
  if (r) writeDocs(r, r.file);
};
if (args[0] === "render") render();
else if (record) {
  saveResult(`tune-${tag}.json`, JSON.parse(readFileSync(record, "utf8")));
  render();
} else {
  const r = await runAll();
  if (r === null) console.log("first part written: run again with --part rest");
  else if (smoke) console.log(JSON.stringify(r, null, 2));
  else {
    saveResult(`tune-${tag}.json`, r);
    render();
  }
}
