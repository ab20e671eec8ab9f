// What the benchmark scripts share: running a command with its wall time, and writing a section
// of docs/benchmarks.md (between its <!-- name:start --> and <!-- name:end --> markers).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, hostname, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Run a command; its stdout and wall time in seconds. A failure prints its output's tail and throws. */
export function sh(cmd, args, opts = {}) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 30, ...opts });
  if (r.status !== 0) {
    process.stderr.write((r.stdout ?? "").slice(-3000) + (r.stderr ?? "").slice(-3000));
    throw new Error(`${cmd} ${args.join(" ")} failed with ${r.status}`);
  }
  return { stdout: r.stdout, wall: (Date.now() - t0) / 1000 };
}

/** Replace (or append) the section `name` of docs/benchmarks.md; `section` includes its markers. */
export function writeDocSection(name, section) {
  const docPath = join(root, "docs", "benchmarks.md");
  let doc = readFileSync(docPath, "utf8");
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  doc = a >= 0 && b > a ? doc.slice(0, a) + section + doc.slice(b + end.length) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(docPath, doc);
}

/** The machine a result was measured on, as the results record it. */
export function machine(device) {
  return { host: hostname(), cpus: cpus().length, cpu: cpus()[0]?.model ?? "", ram_gib: Math.round(totalmem() / 2 ** 30), device, node: process.version };
}

/** Where raw results live: bench/results/. */
export const resultsDir = join(root, "bench", "results");

/** Write a raw result as bench/results/<file> (pretty JSON); its path. */
export function saveResult(file, record) {
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, file);
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
  process.stderr.write(`wrote ${path}\n`);
  return path;
}

/** The raw results whose file names match `re`, sorted by name, each as { file, ...record }. */
export function loadResults(re) {
  return readdirSync(resultsDir)
    .filter((f) => re.test(f))
    .sort()
    .map((file) => ({ file, ...JSON.parse(readFileSync(join(resultsDir, file), "utf8")) }));
}

/** The time of the latest write under a folder (ms). */
function lastWrite(dir) {
  let t = statSync(dir).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath ?? e.path, e.name)).mtimeMs);
  return t;
}

/** Write a file whole: a temporary file renamed into place (several benchmark processes at once). */
export function writeWhole(file, text) {
  writeFileSync(`${file}.tmp-${process.pid}`, text);
  renameSync(`${file}.tmp-${process.pid}`, file);
}

/** `hone train <args>` in a fresh store (emptied first): the result line, the wall time, the store. */
export function trainFresh(store, args) {
  rmSync(store, { recursive: true, force: true });
  const r = sh(process.execPath, [join(root, "bin", "hone"), "--store", store, "train", ...args, "--json"], { stdio: ["ignore", "pipe", "inherit"] });
  return { result: JSON.parse(r.stdout.trim().split("\n").at(-1)), wall: r.wall, attempts: 1, store };
}

/** Mean and sample standard deviation (0 for fewer than two values), for the tables' "mean ± spread". */
export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const spread = (xs) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));

/** A result file's CPU machine, as the tables name it (its record's machine: cpu, cpus, threads). */
export const cpuMachine = (r) =>
  `${r.machine.cpu.split(" ").slice(0, 4).join(" ")}, ${r.machine.threads === "all" ? r.machine.cpus : r.machine.threads} threads`;

/**
 * `hone train <args>` in a store that outlives the process: a benchmark stopped part-way (a device
 * call's time limit, like a kill -9) goes on with `hone train --resume` of its run named `name` at
 * the next invocation, as Hone promises a user. Wall time is the sum of the attempts
 * (store/attempts.json); a killed attempt ended when the run last wrote anything in the store (its
 * logs and checkpoints are written as it goes), or when the next one started if that came first.
 * Returns the result line, the wall time, the number of attempts and the store.
 */
export function trainResumable(store, args, name) {
  const hone = [join(root, "bin", "hone"), "--store", store];
  const attemptsFile = join(store, "attempts.json");
  let parent = null;
  if (existsSync(store)) {
    const listed = sh(process.execPath, [...hone, "runs", "list", "--json"], { stdio: ["ignore", "pipe", "inherit"] });
    parent = JSON.parse(listed.stdout).find((r) => r.name === name) ?? null;
  }
  const attempts = parent && existsSync(attemptsFile) ? JSON.parse(readFileSync(attemptsFile, "utf8")) : [];
  if (!parent) rmSync(store, { recursive: true, force: true });
  mkdirSync(store, { recursive: true });
  if (parent) process.stderr.write(`== resuming run ${parent.id} (${parent.status}) of an earlier attempt\n`);
  const started = new Date().toISOString();
  const last = lastWrite(store);
  const earlier = attempts.map((a, i) => ({
    ...a,
    seconds: a.seconds ?? (Math.min(last, Date.parse(attempts[i + 1]?.started ?? started)) - Date.parse(a.started)) / 1000,
  }));
  writeWhole(attemptsFile, JSON.stringify([...earlier, { started, seconds: null }]));
  const r = sh(process.execPath, parent ? [...hone, "train", "--resume", parent.id, "--json"] : [...hone, "train", ...args, "--json"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const all = [...earlier, { started, seconds: r.wall }];
  writeWhole(attemptsFile, JSON.stringify(all));
  return { result: JSON.parse(r.stdout.trim().split("\n").at(-1)), wall: all.reduce((t, a) => t + a.seconds, 0), attempts: all.length, store };
}

/** CLINC150's official split (data_full.json under `data`) and the training settings of every
 * full-data CLINC150 table (bench/configs/clinc150.yaml, bench/hierarchy.mjs, bench/augment.mjs). */
export const clincFullSettings = (data) => [
  `data.train={path: ${data}/clinc150/data_full.json, pointer: /train}`,
  `data.validation={path: ${data}/clinc150/data_full.json, pointer: /val}`,
  `data.test={path: ${data}/clinc150/data_full.json, pointer: /test}`,
  'data.text="0"',
  'data.label="1"',
  "data.max_length=64",
  "train.epochs=5",
  "train.batch_size=32",
  "train.lr=2e-4",
  "train.warmup_ratio=0.06",
  "train.weight_decay=0.01",
  "train.seed=42",
];

/** "-k=v_k2=v2" for file and store names of runs given extra settings; "" without any. */
export const setsSuffix = (sets) => (sets.length ? `-${sets.join("_").replace(/[^\w.=-]/g, "")}` : "");

/** The SetFit peer's packages (what it needs beside torch and transformers). */
const SETFIT_PACKAGES = [
  "setfit==1.2.0",
  "sentence-transformers",
  "datasets",
  "evaluate",
  "scikit-learn",
  "scipy",
  "joblib",
  "threadpoolctl",
  "pyarrow",
  "pandas",
  "dill",
  "xxhash",
  "multiprocess",
  "tzdata",
  "python-dateutil",
  "pytz",
  "six",
  "cloudpickle",
  "narwhals",
];

/** Install the SetFit peer into bench/.peers (the benchmark's environment; the engine's is
 * untouched), once. BENCH_PEER_WHEELS: a folder of wheels instead of the index (a machine without
 * network); BENCH_PEER_PACKAGES: only what that machine lacks. */
export function installSetfit(python) {
  const peers = join(root, "bench", ".peers");
  if (existsSync(join(peers, "setfit"))) return;
  process.stderr.write("== installing the peer (setfit and what it needs beside torch and transformers) into bench/.peers\n");
  const wheels = process.env.BENCH_PEER_WHEELS ? ["--no-index", "--find-links", process.env.BENCH_PEER_WHEELS] : [];
  const packages = process.env.BENCH_PEER_PACKAGES?.split(" ") ?? SETFIT_PACKAGES;
  const r = spawnSync(python, ["-m", "pip", "install", "--quiet", "--no-deps", "--target", peers, ...wheels, ...packages], { stdio: "inherit" });
  if (r.status !== 0) process.exit(1);
}
