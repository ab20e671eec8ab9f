// What the benchmark scripts share: running a command with its wall time, and writing a section
// of docs/benchmarks.md (between its <!-- name:start --> and <!-- name:end --> markers).
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
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
