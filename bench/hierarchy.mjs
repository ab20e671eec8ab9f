// Benchmark: hierarchical strategies against the flat classifier, same model and budget, one
// run after the other through the real CLI.
//   node bench/hierarchy.mjs [--data-root ../shared/data] [--out bench/out (the runs' stores)] [--tag cpu] [clinc150] [wos]
//       -> bench/results/hierarchy-<tag>[-<variants>].json, written after every finished run
//   node bench/hierarchy.mjs --record <hierarchy.json>  # keep a device run's file under bench/results/
//   node bench/hierarchy.mjs render                     # the "hierarchy" section of docs/benchmarks.md
// The section has one table per raw file under bench/results/.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { basename, join, resolve } from "node:path";
import { clincFullSettings, loadResults, root, saveResult, writeDocSection } from "./lib.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i === -1) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const record = opt("--record", null);
const machineTag = opt("--tag", "cpu");
const dataRoot = resolve(opt("--data-root", join(root, "..", "shared", "data")));
const out = resolve(opt("--out", join(root, "bench", "out")));
// --smoke: two steps per variant, to check the pipeline before a long run (results not recorded).
const parallel = Number(opt("--parallel", "1"));
// --set k=v (repeatable): one more override for every variant, e.g. a larger budget; --variants
// 0,4: only those rows of VARIANTS. Either one makes a separate docs section (tagged by them).
const extraSets = [];
for (let v = opt("--set", null); v !== null; v = opt("--set", null)) extraSets.push(v);
const onlyVariants = opt("--variants", null)?.split(",").map(Number) ?? null;
const tag =
  extraSets.length || onlyVariants ? `-${[...extraSets, ...(onlyVariants ? [`v${onlyVariants.join("_")}`] : [])].join("-").replace(/[^a-z0-9.]+/gi, "_")}` : "";
const smoke = args.includes("--smoke");
if (smoke) args.splice(args.indexOf("--smoke"), 1);
const renderOnly = args[0] === "render";
if (renderOnly) args.shift();
const which = args.length ? args : ["clinc150", "wos"];
const rawFile = `hierarchy-${machineTag}${tag}.json`;

// Same model and budget for every variant of a dataset; only the task / strategy changes.
const DATASETS = {
  clinc150: {
    title: "CLINC150 (in-scope), domain (10) -> intent (150)",
    flatBaseline: true,
    set: (d) => [...clincFullSettings(d), `hierarchy.taxonomy=${d}/clinc150/domains.json`],
  },
  wos: {
    title: "WOS 1k sample (640 / 160 / 200), domain (7) -> area (134 in the taxonomy)",
    flatBaseline: false,
    set: (d) => [
      `data.train=${d}/wos-sample-1k/wos_train.jsonl`,
      `data.validation=${d}/wos-sample-1k/wos_val.jsonl`,
      `data.test=${d}/wos-sample-1k/wos_test.jsonl`,
      "data.text=doc_token",
      "data.label=doc_label",
      "data.max_length=256",
      `hierarchy.taxonomy=${d}/wos-sample-1k/wos.taxonomy.full.tsv`,
      'hierarchy.separator=" > "',
      "train.epochs=20",
      "train.batch_size=16",
      "train.lr=2e-4",
      "train.warmup_ratio=0.1",
      "train.weight_decay=0.01",
      "train.seed=42",
    ],
  },
};

const VARIANTS = [
  { name: "flat classifier (task: classify)", set: ["task=classify"], baseline: true },
  { name: "flat + consistent decoding", set: ["task=hierarchical", "hierarchy.strategy=flat"] },
  { name: "per level, joint", set: ["task=hierarchical", "hierarchy.strategy=per_level"] },
  { name: "per level + consistency loss", set: ["task=hierarchical", "hierarchy.strategy=per_level", "hierarchy.consistency_loss=1"] },
  { name: "local per parent (top-down)", set: ["task=hierarchical", "hierarchy.strategy=local"] },
  {
    name: "per level + consistency loss, top-down decoding",
    set: ["task=hierarchical", "hierarchy.strategy=per_level", "hierarchy.consistency_loss=1", "hierarchy.decode=top_down"],
    clincOnly: true,
  },
  {
    name: "per level + consistency loss, top level weighted 2, top-down decoding",
    set: ["task=hierarchical", "hierarchy.strategy=per_level", "hierarchy.consistency_loss=1", "hierarchy.level_weights=[2, 1]", "hierarchy.decode=top_down"],
    clincOnly: true,
  },
];

async function runAll() {
  // Jobs in a fixed order; with --parallel N they run N at a time (the GPU runs are host-bound,
  // so several fit on one GPU; their wall times are then not comparable with each other).
  const jobs = [];
  for (const name of which) {
    const ds = DATASETS[name];
    VARIANTS.forEach((v, k) => {
      if (((!v.baseline && !v.clincOnly) || ds.flatBaseline) && (!onlyVariants || onlyVariants.includes(k))) jobs.push({ name, ds, v, k });
    });
  }
  const rows = new Array(jobs.length).fill(null);
  const runOne = ({ name, ds, v, k }, i) =>
    new Promise((resolveJob, reject) => {
      const store = join(out, `store-hier-${name}-${k}`);
      const sets = [...ds.set(dataRoot), ...v.set, ...extraSets, ...(smoke ? ["train.max_steps=2"] : [])].flatMap((s) => ["--set", s]);
      process.stderr.write(`== ${name}: ${v.name}\n`);
      const t0 = Date.now();
      const child = spawn(
        process.execPath,
        [join(root, "bin", "hone"), "--store", store, "train", "--json", "--model", process.env.HONE_BENCH_MODEL ?? "all-minilm-l6-v2", ...sets],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      let stdout = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.on("close", (code) => {
        if (code !== 0) return reject(new Error(`${name} / ${v.name} failed (${code}): ${stdout.slice(-2000)}`));
        const m = JSON.parse(stdout.trim().split("\n").at(-1)).test;
        const wall = (Date.now() - t0) / 1000;
        rows[i] =
          m.kind === "hierarchical"
            ? {
                dataset: name,
                variant: v.name,
                top: m.levels[0].accuracy,
                leaf: m.levels.at(-1).accuracy,
                exact: m.accuracy,
                micro: m.micro_f1,
                macro: m.macro_f1,
                consistency: m.consistency,
                raw: m.raw_consistency,
                wall,
              }
            : { dataset: name, variant: v.name, top: null, leaf: m.accuracy, exact: m.accuracy, micro: null, macro: null, consistency: null, raw: null, wall };
        process.stderr.write(`== done ${name}: ${v.name} (${wall.toFixed(0)} s)\n`);
        // Written after every run, so that a benchmark cut short still leaves what it measured.
        if (!smoke) saveResult(rawFile, { ...header(), parallel, rows: rows.filter(Boolean) });
        resolveJob();
      });
    });
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      await runOne(jobs[i], i);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { ...header(), parallel, rows };
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
  const machine = `${py.stdout.trim()}; ${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`;
  return {
    date: new Date().toISOString().slice(0, 10),
    machine,
    ...(process.env.HONE_BENCH_MODEL ? { model: process.env.HONE_BENCH_MODEL } : {}),
    ...(process.env.HONE_BENCH_MODEL_NOTE ? { model: process.env.HONE_BENCH_MODEL_NOTE } : {}),
    command: `node bench/hierarchy.mjs --tag ${machineTag} ${parallel > 1 ? `--parallel ${parallel} ` : ""}${extraSets.map((x) => `--set ${x} `).join("")}${onlyVariants ? `--variants ${onlyVariants.join(",")} ` : ""}${which.join(" ")}`,
    tag,
  };
}

const pct = (v) => (v === null || v === undefined ? "-" : `${(v * 100).toFixed(2)}%`);

function table(result, file) {
  const lines = result.rows.map(
    (r) =>
      `| ${r.dataset} | ${r.variant} | ${pct(r.top)} | ${pct(r.leaf)} | ${pct(r.exact)} | ${pct(r.micro)} | ${pct(r.macro)} | ${pct(r.consistency)} | ${pct(r.raw)} | ${r.wall.toFixed(0)} s |`,
  );
  return [
    "",
    `Command: \`${result.command}\` · raw: \`bench/results/${file}\`  `,
    `Machine: ${result.machine}  `,
    `Date: ${result.date}${result.model ? `  \nModel: ${result.model}` : ""}`,
    "",
    `Runs ${result.parallel ?? 1} at a time${(result.parallel ?? 1) > 1 ? " on the one GPU (the runs are host-bound): wall times include that sharing and only say how long a row took" : ""}.`,
    "",
    "| dataset | strategy | level-1 acc | leaf acc | exact path | Micro-F1 (all nodes) | Macro-F1 (all nodes) | consistent (decoded) | consistent (heads' argmax) | wall |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...lines,
  ];
}

function render() {
  // Each machine's full run first, then the runs of some variants with other settings (tagged).
  const files = loadResults(/^hierarchy-.*\.json$/).sort((a, b) => (a.tag ?? "").length - (b.tag ?? "").length || (a.file < b.file ? -1 : 1));
  writeDocSection(
    "hierarchy",
    [
      "<!-- hierarchy:start -->",
      "## Hierarchical classification: strategies vs the flat classifier",
      "",
      "Datasets, budgets and strategies in `bench/hierarchy.mjs`. Model all-MiniLM-L6-v2 for every row; within a dataset every row has the same budget (epochs, batch, lr, warmup, seed, max length) and keeps its best validation checkpoint (by exact-path accuracy, or accuracy for the flat classifier). Test split, evaluated once. For CLINC150 the leaf accuracy is intent accuracy, and the flat classifier row is the foundation issue's classifier in the same run. Micro-/Macro-F1 over all nodes of both levels follow the HiAGM/HGCLR protocol (macro over nodes present in truth or predictions). \"Consistent (heads' argmax)\" is how often the heads' own independent decisions already formed a valid path; decoded predictions are checked path by path.",
      ...files.flatMap(({ file, ...r }) => table(r, file)),
      "<!-- hierarchy:end -->",
    ].join("\n"),
  );
  process.stderr.write("rendered the hierarchy section of docs/benchmarks.md\n");
}

if (record) {
  const raw = JSON.parse(readFileSync(record, "utf8"));
  saveResult(basename(record).startsWith("hierarchy-") ? basename(record) : `hierarchy-${raw.date}${raw.tag ?? ""}.json`, raw);
  render();
} else if (renderOnly) render();
else if (smoke) console.log((await runAll()).rows);
else {
  await runAll();
  render();
}
