// Benchmark: augmentation on the whole CLINC150 training set (15,000 examples, 100 per intent),
// flat and hierarchical (domain -> intent), through the real CLI. Does it lift the full-data test
// accuracy (96.02% flat, bench/classify.mjs) and the hierarchical domain accuracy (98.07-98.60%,
// bench/hierarchy.mjs; the goal is 99%)? One `hone train` per job with augment.enabled: the run
// without generated examples, then the run with them, the better on validation kept; both are
// recorded with the test metrics of each.
//   node bench/augment.mjs run [flat] [hierarchical] [--set k=v]... [--tag NAME]
//       -> bench/results/augment-full-<tag>.json, written as each job ends. A job stopped part-way
//          (a device call's time limit) goes on with `hone train --resume` at the next invocation.
//   node bench/augment.mjs render -> the "augment-full" section of docs/benchmarks.md
// The data: BENCH_DATA (default ../shared/data) holding clinc150/data_full.json and domains.json.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { clincFullSettings, root, saveResult, setsSuffix, trainResumable, writeDocSection } from "./lib.mjs";

const [mode = "render", ...rest] = process.argv.slice(2);
const sets = [];
let tag = "cpu";
const jobs = [];
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === "--set") sets.push(rest[++i]);
  else if (rest[i] === "--tag") tag = rest[++i];
  else jobs.push(rest[i]);
}
const data = process.env.BENCH_DATA ?? join(root, "..", "shared", "data");
const results = join(root, "bench", "results");

// Each job has the settings of bench/configs/clinc150.yaml and of bench/hierarchy.mjs's CLINC150
// rows (clincFullSettings), so that the run without generated examples is the one those tables show.
const JOBS = {
  flat: { title: "flat classifier (task: classify)", set: ["task=classify"] },
  hierarchical: {
    title: "per level, joint (task: hierarchical)",
    set: ["task=hierarchical", "hierarchy.strategy=per_level", `hierarchy.taxonomy=${data}/clinc150/domains.json`],
  },
};

/** A run's test metrics as its report holds them: accuracy, and the domain's for a hierarchy. */
function testOf(store, id) {
  const m = JSON.parse(readFileSync(join(store, "runs", id, "report", "metrics.test.json"), "utf8"));
  return m.kind === "hierarchical" ? { accuracy: m.levels.at(-1).accuracy, domain: m.levels[0].accuracy, exact: m.accuracy } : { accuracy: m.accuracy };
}

function run() {
  const file = `augment-full-${tag}${setsSuffix(sets)}.json`;
  const path = join(results, file);
  const record = existsSync(path)
    ? JSON.parse(readFileSync(path, "utf8"))
    : { bench: "augment-full", sets, rows: [], machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? "", memory_gb: Math.round(totalmem() / 2 ** 30) } };
  for (const name of jobs.length ? jobs : Object.keys(JOBS)) {
    const job = JOBS[name];
    if (!job) throw new Error(`unknown job ${name}: ${Object.keys(JOBS).join(", ")}`);
    process.stderr.write(`== clinc150 full, ${job.title}, augmented\n`);
    const store = join(root, "bench", "out", `store-augment-full-${name}${setsSuffix(sets)}`);
    const settings = ["name=augment-full", ...clincFullSettings(data), "augment.enabled=true", ...job.set, ...sets];
    const args = ["--model", "all-minilm-l6-v2", ...settings.flatMap((s) => ["--set", s])];
    const { result, wall, attempts } = trainResumable(store, args, "augment-full");
    const a = result.augment;
    const config = JSON.parse(readFileSync(join(store, "runs", a.original.run, "config.json"), "utf8"));
    record.rows = record.rows.filter((r) => r.job !== name);
    record.rows.push({
      job: name,
      title: job.title,
      kept: a.kept,
      reason: a.reason,
      original: { ...a.original, test_metrics: testOf(store, a.original.run) },
      augmented: a.augmented ? { ...a.augmented, test_metrics: testOf(store, a.augmented.run) } : null,
      counts: a.counts,
      by_kind: a.by_kind,
      generation: a.generation,
      augment: config.augment,
      device: config.train.device,
      wall_s: wall,
      attempts,
      // The encoder's vocabulary rows: all of them, or only the data sets' (bench/gpu/pack_minilm.py).
      model_rows: process.env.BENCH_MODEL_ROWS ?? "all",
      gpu: process.env.BENCH_GPU ?? null,
    });
    record.date = new Date().toISOString();
    record.command = `node bench/augment.mjs run ${rest.join(" ")}`.trim();
    record.versions = { node: process.version };
    saveResult(file, record);
  }
}

const pct = (v) => (v === null || v === undefined ? "-" : (v * 100).toFixed(2));

function render() {
  const files = readdirSync(results).filter((f) => /^augment-full-.*\.json$/.test(f));
  if (files.length === 0) return process.stderr.write("no bench/results/augment-full-*.json yet: nothing to render\n");
  const lines = [
    "<!-- augment-full:start -->",
    "## Augmentation on the whole CLINC150 training set",
    "",
    "`node bench/augment.mjs run`: one `hone train` per row with `augment.enabled: true` and the settings of the CLINC150",
    "tables above (5 epochs, lr 2e-4, batch 32, seed 42; hierarchy: per level, joint): the run without generated examples, then",
    "the run with those that passed the filters, the better on validation kept. Writer SmolLM2-135M-Instruct, 2 rewrites per",
    "training example and 5 new examples per intent. Test accuracy of both runs (measured; not used to decide); for the",
    "hierarchy also its domain accuracy (goal 99%).",
    "",
    "| job | settings | test acc, off / on | domain acc, off / on | validation acc, off / on | asked / kept | run kept | generation | wall (s) | machine | raw |",
    "|---|---|---:|---:|---:|---:|---|---:|---:|---|---|",
  ];
  const notes = [];
  for (const f of files.sort()) {
    const r = JSON.parse(readFileSync(join(results, f), "utf8"));
    for (const x of r.rows) {
      const o = x.original.test_metrics;
      const g = x.augmented?.test_metrics;
      lines.push(
        `| ${x.title} | ${r.sets.join(" ") || "defaults"} | ${pct(o.accuracy)} / ${pct(g?.accuracy)} | ${pct(o.domain)} / ${pct(g?.domain)} | ${pct(x.original.validation)} / ${pct(x.augmented?.validation)} | ${x.counts.asked} / ${x.counts.kept} | ${x.kept} | ${x.generation.seconds.toFixed(0)} s (${x.generation.examples_per_second.toFixed(1)}/s) | ${x.wall_s.toFixed(0)} | ${x.gpu ? `1 × ${x.gpu}` : `${r.machine.cpu}, ${r.machine.cpus} cores`} | \`bench/results/${f}\` |`,
      );
      if (x.attempts > 1)
        notes.push(`${x.title} (${f}): stopped by a device call's time limit and resumed (hone train --resume): ${x.attempts} attempts, wall is their sum`);
      if (x.model_rows !== "all") notes.push(`${x.title} (${f}): the encoder had only the data sets' vocabulary rows`);
    }
    notes.push(`\`${r.command}\` (${f}, ${r.date.slice(0, 10)}; node ${r.versions.node})`);
  }
  lines.push("", ...notes.map((n) => `- ${n}`), "<!-- augment-full:end -->");
  writeDocSection("augment-full", lines.join("\n"));
}

if (mode === "run") run();
else render();
