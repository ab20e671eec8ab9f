// Benchmark: augmentation on the whole CLINC150 training set (15,000 examples, 100 per intent),
// flat and hierarchical (domain -> intent), through the real CLI. Does it lift the full-data test
// accuracy (96.02% flat, bench/classify.mjs) and the hierarchical domain accuracy (98.07-98.60%,
// bench/hierarchy.mjs; the goal is 99%)? One `hone train` per job with augment.enabled: the run
// without generated examples, then the run with them, the better on validation kept; both are
// recorded with the test metrics of each.
//   node bench/augment.mjs run [flat] [hierarchical] [--set k=v]... [--tag NAME]
//       -> bench/results/augment-full-<tag>.json, written as each job ends. A job stopped part-way
//          (a device call's time limit) goes on with `hone train --resume` at the next invocation.
//   node bench/augment.mjs replay <job> --generated kept.jsonl [--set k=v]... [--tag NAME]
//       -> the same pair of runs on this machine, the generated examples read from a file that an
//          earlier run kept (<run>/augment/kept.jsonl): no writer needed, e.g. the device generated
//          them and its time ran out before the augmented run ended. Written like `run`'s rows.
//   node bench/augment.mjs render -> the "augment-full" section of docs/benchmarks.md
// The data: BENCH_DATA (default ../shared/data) holding clinc150/data_full.json and domains.json.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { clincFullSettings, root, saveResult, setsSuffix, sh, trainResumable, writeDocSection } from "./lib.mjs";

const [mode = "render", ...rest] = process.argv.slice(2);
const sets = [];
let tag = "cpu";
let generated = null;
const jobs = [];
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === "--set") sets.push(rest[++i]);
  else if (rest[i] === "--tag") tag = rest[++i];
  else if (rest[i] === "--generated") generated = rest[++i];
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

/** The results file so far (rows of other jobs kept), or a new one with this machine's description. */
function loadRecord(path) {
  if (existsSync(path)) return JSON.parse(readFileSync(path, "utf8"));
  return { bench: "augment-full", sets, rows: [], machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? "", memory_gb: Math.round(totalmem() / 2 ** 30) } };
}

/** A run's test metrics as its report holds them: accuracy, and the domain's for a hierarchy. */
function testOf(store, id) {
  const m = JSON.parse(readFileSync(join(store, "runs", id, "report", "metrics.test.json"), "utf8"));
  return m.kind === "hierarchical" ? { accuracy: m.levels.at(-1).accuracy, domain: m.levels[0].accuracy, exact: m.accuracy } : { accuracy: m.accuracy };
}

function run() {
  const file = `augment-full-${tag}${setsSuffix(sets)}.json`;
  const path = join(results, file);
  const record = loadRecord(path);
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

/** `run`'s pair replayed: the run without generated examples and the run with the given ones (the
 * training rows of data_full.json plus the file's, each labelled by its path's last part, the
 * intent), through `hone train` twice; the better on validation kept, as augment.keep: if_better. */
function replay() {
  const [name] = jobs;
  const job = JOBS[name];
  if (!job || !generated) throw new Error("usage: node bench/augment.mjs replay flat|hierarchical --generated kept.jsonl");
  const file = `augment-full-${tag}.json`;
  const path = join(results, file);
  const record = loadRecord(path);
  const out = join(root, "bench", "out", `replay-${name}${setsSuffix(sets)}`);
  mkdirSync(out, { recursive: true });
  const full = JSON.parse(readFileSync(join(data, "clinc150", "data_full.json"), "utf8"));
  // The kept examples, plain or xz-compressed, and the provenance.json the run wrote beside them.
  const text = generated.endsWith(".xz") ? sh("xz", ["-dc", generated]).stdout : readFileSync(generated, "utf8");
  const provenancePath = join(dirname(generated), "provenance.json");
  const provenance = existsSync(provenancePath) ? JSON.parse(readFileSync(provenancePath, "utf8")) : null;
  const rows = text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .map((g) => [g.text, (g.labels?.[0] ?? g.label).split("/").at(-1)]);
  writeFileSync(join(out, "train.json"), JSON.stringify({ train: [...full.train, ...rows] }));
  const base = ["--model", "all-minilm-l6-v2", ...["name=augment-full", ...clincFullSettings(data), ...job.set, ...sets].flatMap((s) => ["--set", s])];
  const train = (label, extra) => {
    process.stderr.write(`== clinc150 full, ${job.title}, ${label}\n`);
    const store = join(out, `store-${label}`);
    const r = sh(process.execPath, [join(root, "bin", "hone"), "--store", store, "train", ...base, ...extra, "--json"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const result = JSON.parse(r.stdout.trim().split("\n").at(-1));
    return { run: result.run, validation: result.validation.accuracy, test: result.test.accuracy, test_metrics: testOf(store, result.run), wall_s: r.wall };
  };
  const original = train("original", []);
  const augmented = train("augmented", ["--set", `data.train={path: ${join(out, "train.json")}, pointer: /train}`]);
  const better = augmented.validation > original.validation;
  record.rows = record.rows.filter((r) => r.job !== name);
  record.rows.push({
    job: name,
    title: job.title,
    kept: better ? "augmented" : "original",
    reason: `validation accuracy ${augmented.validation.toFixed(4)} with them, ${original.validation.toFixed(4)} without`,
    original,
    augmented,
    counts: provenance?.counts ?? { asked: null, kept: rows.length },
    generated: generated.replace(/^.*\/bench\//, "bench/"),
    provenance,
    wall_s: original.wall_s + augmented.wall_s,
    attempts: 1,
    model_rows: "all",
    gpu: null,
  });
  record.date = new Date().toISOString();
  record.command = `node bench/augment.mjs replay ${rest.join(" ")}`.trim();
  record.versions = { node: process.version };
  saveResult(file, record);
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
    "training example (the default; the settings column shows where fewer) and 5 new examples per intent. Test accuracy of both runs (measured; not used to decide); for the",
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
        `| ${x.title} | ${r.sets.join(" ") || "defaults"} | ${pct(o.accuracy)} / ${pct(g?.accuracy)} | ${pct(o.domain)} / ${pct(g?.domain)} | ${pct(x.original.validation)} / ${pct(x.augmented?.validation)} | ${x.counts.asked ?? "-"} / ${x.counts.kept} | ${x.kept} | ${x.generation ? `${x.generation.seconds.toFixed(0)} s (${x.generation.examples_per_second.toFixed(1)}/s)` : "-"} | ${x.wall_s.toFixed(0)} | ${x.gpu ? `1 × ${x.gpu}` : `${r.machine.cpu}, ${r.machine.cpus} cores`} | \`bench/results/${f}\` |`,
      );
      if (x.attempts > 1)
        notes.push(`${x.title} (${f}): stopped by a device call's time limit and resumed (hone train --resume): ${x.attempts} attempts, wall is their sum`);
      if (x.provenance)
        notes.push(
          `${x.title} (${f}): both runs trained here, on the examples that the ${x.provenance.model} run on the device generated and kept (\`${x.generated}\`, with its provenance.json: prompts, sampling, seed, filter counts; the device's time ran out during its augmented run)`,
        );
      if (x.model_rows !== "all") notes.push(`${x.title} (${f}): the encoder had only the data sets' vocabulary rows`);
      if (x.note) notes.push(`${x.title} (${f}): ${x.note}`);
    }
    notes.push(`\`${r.command}\` (${f}, ${r.date.slice(0, 10)}; node ${r.versions.node})`);
  }
  const rows = files.flatMap((f) => JSON.parse(readFileSync(join(results, f), "utf8")).rows).filter((x) => x.augmented);
  const change = rows.map((x) => (x.augmented.test_metrics.accuracy - x.original.test_metrics.accuracy) * 100);
  const domains = rows
    .filter((x) => x.original.test_metrics.domain !== undefined)
    .flatMap((x) => [x.original.test_metrics.domain, x.augmented.test_metrics.domain]);
  if (rows.length)
    lines.push(
      "",
      `Reading: the augmented run was kept in ${rows.filter((x) => x.kept === "augmented").length} of ${rows.length} rows; its test accuracy moved by ${Math.min(...change).toFixed(2)} to ${Math.max(...change).toFixed(2)} points against the run without it` +
        (domains.length ? `; the best hierarchical domain accuracy, either run, is ${pct(Math.max(...domains))}% (goal 99%).` : "."),
    );
  lines.push("", ...notes.map((n) => `- ${n}`), "<!-- augment-full:end -->");
  writeDocSection("augment-full", lines.join("\n"));
}

if (mode === "run") run();
else if (mode === "replay") replay();
else render();
