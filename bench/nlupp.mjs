// Benchmark: multi-label classifiers from little data, NLU++ banking (../shared/data/nlupp), its
// "20-fold" (low-data) regime: train on one fold (~100 utterances, 48 intents, 0 to 6 intents
// each), test on the other 19 (~1,970). Hone's plain fine-tuning, Hone's few-shot (contrastive
// stage, then the sigmoid head), Hone's zero-shot (the ontology's intent descriptions) and the
// SetFit library (one-vs-rest head) on the same encoder, each fold back to back in one invocation.
// No validation split (as in the 20-fold protocol): every decision threshold is 0.5.
//   node bench/nlupp.mjs run [--folds 0,1,2] [--methods finetune,fewshot,zeroshot,setfit,setfit-balanced,finetune-balanced,fewshot-balanced] [--tag cpu] [--threads N]
//        -> bench/results/nlupp-banking-<tag>.json (every run: micro-F1, subset accuracy, wall time)
//   node bench/nlupp.mjs render -> the "nlupp" section of docs/benchmarks.md
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, hostname, totalmem } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { cpuMachine, installSetfit, mean, root, sh, spread, trainFresh, writeDocSection, writeWhole } from "./lib.mjs";

const results = join(root, "bench", "results");
const [mode = "render", ...rest] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : dflt;
};
const data = join(process.env.BENCH_DATA ?? join(root, "..", "shared", "data"), "nlupp");
const python = process.env.HONE_PYTHON ?? join(root, ".venv", "bin", "python");
const work = join(root, "bench", "out", "nlupp");
const FOLDS = 20;

/** Folds as JSONL ({text, intents}; an utterance without intents has an empty list). With
 * `known` (the training fold's intents), test rows keep only those: a fold of ~100 utterances
 * lacks a few intents, which no method can learn and `hone train` refuses in a test set; every
 * method is scored on the same rows, and the dropped occurrences are counted. */
function foldsFile(folds, name, known = null) {
  const rows = folds.flatMap((f) => JSON.parse(readFileSync(join(data, "banking", `fold${f}.json`), "utf8")));
  let dropped = 0;
  const kept = rows.map((r) => {
    const intents = r.intents ?? [];
    const seen = known ? intents.filter((l) => known.has(l)) : intents;
    dropped += intents.length - seen.length;
    return { text: r.text, intents: seen };
  });
  const file = join(work, `${name}.jsonl`);
  mkdirSync(work, { recursive: true });
  writeWhole(file, `${kept.map((r) => JSON.stringify(r)).join("\n")}\n`);
  return { file, count: rows.length, rows: kept, dropped, occurrences: kept.reduce((n, r) => n + r.intents.length, 0) + dropped };
}

/** The ontology's description of every intent the training fold uses, as fewshot.descriptions. */
function descriptionsFile(train) {
  const ontology = JSON.parse(readFileSync(join(data, "ontology.json"), "utf8")).intents;
  const used = [...new Set(train.rows.flatMap((r) => r.intents ?? []))].sort();
  const file = join(work, "descriptions.yaml");
  writeWhole(file, stringify(Object.fromEntries(used.map((l) => [l, ontology[l].description]))));
  return file;
}

/** Hone's method; "-balanced" adds train.class_weight=balanced (each intent's positives and
 * negatives weigh alike, as in SetFit's balanced heads). */
function hone(variant, train, test, fold, threads) {
  const [method, balanced] = [variant.replace(/-balanced$/, ""), variant.endsWith("-balanced")];
  const store = join(work, `store-${process.pid}`);
  const sets = [
    `data.train=${train.file}`,
    `data.test=${test.file}`,
    "data.label=intents",
    "data.multi_label=true",
    `train.seed=${fold}`,
    `fewshot.method=${method}`,
    ...(balanced ? ["train.class_weight=balanced"] : []),
    ...(method === "zeroshot" ? [`fewshot.descriptions=${descriptionsFile(train)}`] : []),
    ...(threads ? [`train.threads=${threads}`] : []),
  ];
  const { result, wall } = trainFresh(store, [join(root, "bench", "configs", "fewshot.yaml"), ...sets.flatMap((s) => ["--set", s])]);
  const config = JSON.parse(readFileSync(join(store, "runs", result.run, "config.json"), "utf8"));
  rmSync(store, { recursive: true, force: true });
  const t = result.test;
  return {
    micro_f1: t.micro_f1,
    macro_f1: t.macro_f1,
    subset_accuracy: t.subset_accuracy,
    count: t.count,
    wall_s: wall,
    settings: {
      class_weight: config.train.class_weight,
      epochs: config.train.epochs,
      lr: config.train.lr,
      batch_size: config.train.batch_size,
      threshold: 0.5,
      fewshot: { ...config.fewshot, descriptions: undefined },
    },
  };
}

/** setfit-balanced: each one-vs-rest logistic regression weights its few positives up
 * (`class_weight="balanced"`), what a careful user tries when the defaults predict no intent. */
function setfit(train, test, fold, threads, balanced) {
  installSetfit(python);
  const model = join(process.env.HONE_MODELS ?? join(process.env.HOME, ".cache", "hone", "models"), "all-minilm-l6-v2");
  const args = {
    model,
    train: train.file,
    test: test.file,
    label: "intents",
    multi_label: true,
    head_params: balanced ? { class_weight: "balanced" } : null,
    seed: fold,
    num_iterations: 20,
    batch_size: 16,
    epochs: 1,
    threads: threads ?? cpus().length,
  };
  const r = sh(python, [join(root, "bench", "peers", "setfit_fewshot.py"), JSON.stringify(args)], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, PYTHONPATH: join(root, "bench", ".peers"), TOKENIZERS_PARALLELISM: "false" },
  });
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1));
  return {
    ...out,
    wall_s: r.wall,
    settings: { num_iterations: 20, batch_size: 16, epochs: 1, head: "one-vs-rest LogisticRegression (setfit's multi-label default)", threshold: 0.5 },
  };
}

function run() {
  const folds = opt("--folds", "0,1,2").split(",").map(Number);
  const methods = opt("--methods", "finetune,fewshot,zeroshot,setfit,setfit-balanced,finetune-balanced,fewshot-balanced").split(",");
  const tag = opt("--tag", "cpu");
  const threads = opt("--threads", null);
  const file = join(results, `nlupp-banking-${tag}.json`);
  const before = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : null;
  const runs = [];
  const command = `node bench/nlupp.mjs run ${rest.join(" ")}`.trim();
  const save = (train, test) => {
    const kept = (before?.runs ?? []).filter((e) => !runs.some((r) => r.method === e.method && r.fold === e.fold));
    const all = [...kept, ...runs];
    const record = {
      bench: "nlupp",
      domain: "banking",
      regime: "20-fold (train on one fold, test on the other 19)",
      train_examples: train.count,
      test_examples: test.count,
      runs: all,
      command,
      commands: [...new Set([...(before?.commands ?? []), command])],
      machine: { host: hostname(), cpus: cpus().length, cpu: cpus()[0]?.model ?? "", memory_gb: Math.round(totalmem() / 2 ** 30), threads: threads ?? "all" },
      date: new Date().toISOString(),
      versions: { node: process.version, ...(all.find((r) => r.versions)?.versions ?? {}) },
    };
    mkdirSync(results, { recursive: true });
    writeWhole(file, `${JSON.stringify(record, null, 2)}\n`);
  };
  for (const fold of folds) {
    const train = foldsFile([fold], `train-${fold}`);
    const test = foldsFile(
      Array.from({ length: FOLDS }, (_, i) => i).filter((i) => i !== fold),
      `test-${fold}`,
      new Set(train.rows.flatMap((r) => r.intents)),
    );
    for (const method of methods) {
      process.stderr.write(`== NLU++ banking, fold ${fold}: ${method}\n`);
      const r = method.startsWith("setfit") ? setfit(train, test, fold, threads, method === "setfit-balanced") : hone(method, train, test, fold, threads);
      process.stderr.write(
        `   micro-F1 ${(r.micro_f1 * 100).toFixed(2)}%, subset accuracy ${(r.subset_accuracy * 100).toFixed(2)}%, ${r.wall_s.toFixed(1)} s\n`,
      );
      runs.push({
        method,
        fold,
        train_intents: new Set(train.rows.flatMap((x) => x.intents)).size,
        test_occurrences_dropped: test.dropped,
        test_occurrences: test.occurrences,
        ...r,
      });
      save(train, test);
    }
  }
  process.stderr.write(`wrote ${file}\n`);
}

const pm = (xs) => `${mean(xs).toFixed(2)}${xs.length > 1 ? ` ± ${spread(xs).toFixed(2)}` : ""}`;

function render() {
  const files = existsSync(results)
    ? readdirSync(results)
        .filter((f) => /^nlupp-.*\.json$/.test(f))
        .sort()
    : [];
  if (files.length === 0) return;
  const NAMES = {
    finetune: "Hone fine-tuning",
    "finetune-balanced": "Hone fine-tuning, balanced",
    fewshot: "Hone few-shot",
    "fewshot-balanced": "Hone few-shot, balanced",
    zeroshot: "Hone zero-shot (descriptions)",
    setfit: "SetFit (library, one-vs-rest)",
    "setfit-balanced": "SetFit, balanced heads",
  };
  const lines = [
    "<!-- nlupp:start -->",
    "## Multi-label few-shot: NLU++ banking",
    "",
    "NLU++ (`../shared/data/nlupp`), banking domain, its 20-fold low-data regime: train on one fold (about 100 utterances, up to",
    "48 intents, 0 to 6 intents each), test on the other 19 folds (about 1,970); folds 0, 1 and 2 (each fold also seeds its runs).",
    "No validation split, so every method decides at probability 0.5. Default encoder (all-MiniLM-L6-v2) for every method.",
    "Hone fine-tuning: encoder and sigmoid head on the examples (10 epochs); Hone few-shot: a contrastive stage of 20 pairs per",
    "example (a similar pair shares an intent, a dissimilar one shares none), then the same fine-tuning with the head starting",
    "from each intent's examples; Hone zero-shot: the ontology's intent descriptions (\"is the intent to ...?\"), no training;",
    'SetFit 1.2 (PyPI `setfit`): `multi_target_strategy="one-vs-rest"`, `num_iterations=20`, batch 16, one epoch, its default',
    "logistic-regression heads. Balanced: Hone with `train.class_weight: balanced` (each intent's positives and negatives weigh",
    'alike in the loss), SetFit with `head_params={"class_weight": "balanced"}` (at the defaults almost no intent passes 0.5:',
    "the remedy a careful user reaches for). Micro-F1 is the NLU++ paper's measure; subset accuracy counts an utterance right only if its",
    "whole intent set is. Test rows keep only the intents their training fold has (a fold lacks a few; no method can learn",
    "them, and `hone train` refuses them in a test set): the dropped share of intent occurrences is in the last column.",
    "Mean ± standard deviation over the folds; wall: the whole command, mean.",
    "",
    "| method | folds | micro-F1 (%) | macro-F1 (%) | subset accuracy (%) | wall (s) | machine | test intents dropped |",
    "|---|---:|---:|---:|---:|---:|---|---:|",
  ];
  const notes = [];
  for (const f of files) {
    const r = JSON.parse(readFileSync(join(results, f), "utf8"));
    const machine = cpuMachine(r);
    for (const method of Object.keys(NAMES)) {
      const rs = r.runs.filter((x) => x.method === method);
      if (rs.length === 0) continue;
      const pct = (k) => pm(rs.map((x) => (x[k] ?? Number.NaN) * 100));
      lines.push(
        `| ${NAMES[method]} | ${rs.length} | ${pct("micro_f1")} | ${pct("macro_f1")} | ${pct("subset_accuracy")} | ${mean(rs.map((x) => x.wall_s)).toFixed(0)} | ${machine} | ${pm(rs.map((x) => (100 * x.test_occurrences_dropped) / x.test_occurrences))}% |`,
      );
    }
    notes.push(
      `${r.commands.map((c) => `\`${c}\``).join("; ")} (${f}, ${r.date.slice(0, 10)}; ${Object.entries(r.versions)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")})`,
    );
  }
  lines.push("", ...notes.map((n) => `- ${n}`), "<!-- nlupp:end -->");
  writeDocSection("nlupp", lines.join("\n"));
}

if (mode === "run") run();
render();
