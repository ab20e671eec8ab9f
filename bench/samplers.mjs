// Benchmark: sample efficiency of Hone's samplers against Optuna's (TPE and GP, defaults) on
// Branin, Hartmann-6, a 10-D Rosenbrock and a mixed int/log/categorical function: median
// best-found regret over seeds at 30 and 100 trials. Optuna runs in the same invocation, from
// PyPI into bench/.peers (the benchmark's environment only; the engine's venv is untouched).
//   node bench/samplers.mjs [--seeds 10] [--first-seed 0] [--trials 100] [--functions branin,mixed] [--models tpe,gp] [--no-record]
//   node bench/samplers.mjs --render bench/results/samplers-<date>.json   (table again from saved runs)
// Prints a table, saves every run to bench/results/samplers-<date>.json and rewrites the
// "samplers" section of docs/benchmarks.md; what the numbers mean is written by hand in
// bench/samplers/notes.md and copied under the table.
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
const rendering = opt("--render", null);
const saved = rendering ? JSON.parse(readFileSync(resolve(rendering), "utf8")) : null;
const seeds = saved?.seeds ?? Number(opt("--seeds", "10"));
const firstSeed = saved?.firstSeed ?? Number(opt("--first-seed", "0"));
// The model-based samplers compared with Optuna's (random and Sobol always run: they are cheap).
const models = saved?.models ?? opt("--models", "tpe,gp").split(",");
const trials = saved?.trials ?? Number(opt("--trials", "100"));
const functions = saved?.functions ?? opt("--functions", Object.keys(FUNCTIONS).join(",")).split(",");
const record = !args.includes("--no-record");
const BUDGETS = [30, 100].filter((b) => b <= trials);
const HONE = [...models, "random", "sobol"];
const python = process.env.HONE_PYTHON ?? join(root, ".venv", "bin", "python");
const peers = join(root, "bench", ".peers");
const out = join(root, "bench", "out");
mkdirSync(out, { recursive: true });
const { runs, optunaVersion, machine, date } = saved ?? (await runAll());

async function runAll() {
  // ---- Optuna, in the background while Hone runs here ----
  // greenlet: Optuna's GPSampler optimises its acquisition from several starts at once with it,
  // and falls back to a slower one-start-at-a-time path (other proposals) without it; SQLAlchemy
  // 2.1 stopped pulling it in.
  if (!existsSync(join(peers, "optuna")) || !existsSync(join(peers, "greenlet"))) {
    console.error("== installing the peer (optuna, scipy, greenlet) into bench/.peers");
    const r = spawnSync(python, ["-m", "pip", "install", "--quiet", "--target", peers, "optuna>=4.5", "scipy", "greenlet"], { stdio: "inherit" });
    if (r.status !== 0) process.exit(1);
  }
  const peerOut = join(out, "optuna-samplers.jsonl");
  const peer = spawn(
    python,
    [join(root, "bench", "peers", "optuna_samplers.py"), JSON.stringify({ functions, samplers: models, seeds, first_seed: firstSeed, trials })],
    {
      env: { ...process.env, PYTHONPATH: peers, OMP_NUM_THREADS: "1" },
      stdio: ["ignore", openSync(peerOut, "w"), "inherit"],
    },
  );
  const peerDone = new Promise((res) => peer.on("close", res));
  const optunaVersion = spawnSync(python, ["-c", "import optuna; print(optuna.__version__)"], {
    env: { ...process.env, PYTHONPATH: peers },
    encoding: "utf8",
  }).stdout.trim();

  // ---- Hone ----
  const runs = [];
  for (const fname of functions) {
    const fn = FUNCTIONS[fname];
    const space = { params: Object.entries(fn.space).map(([name, s]) => ({ name, dist: parseDist(s), when: null })) };
    for (const sname of HONE) {
      for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
        const history = [];
        const start = performance.now();
        for (let n = 0; n < trials; n++) {
          const params = SAMPLERS[sname].sample({
            space,
            objectives: [{ metric: "f", direction: "minimize" }],
            history,
            number: n,
            seed,
            startupTrials: 10,
            gridPoints: 5,
          });
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
  runs.push(
    ...readFileSync(peerOut, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l)),
  );

  const py = spawnSync(python, ["-c", "import torch, sys; print(sys.version.split()[0], torch.__version__)"], { encoding: "utf8" }).stdout.trim();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, Python/torch ${py}`;
  const date = new Date().toISOString().slice(0, 10);
  const result = { seeds, firstSeed, models, trials, functions, optunaVersion, machine, date, runs };
  if (record) {
    const file = join(root, "bench", "results", `samplers-${date}.json`);
    writeFileSync(file, JSON.stringify(result));
    console.error(`== runs saved to ${file}`);
  }
  return result;
}

// ---- table ----
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const regretAt = (r, b) => Math.min(...r.values.slice(0, b)) - FUNCTIONS[r.function].optimum;
const stat = (fname, sampler, b) => {
  const rs = runs.filter((r) => r.function === fname && r.sampler === sampler);
  return { regret: median(rs.map((r) => regretAt(r, b))) };
};
const COLS = [...models.flatMap((m) => [`hone-${m}`, `optuna-${m}`]), "hone-random", "hone-sobol"];
const rows = [];
const verdict = Object.fromEntries(models.map((m) => [m, 0]));
for (const fname of functions) {
  const wins = Object.fromEntries(models.map((m) => [m, true]));
  for (const b of BUDGETS) {
    const s = Object.fromEntries(COLS.map((c) => [c, stat(fname, c, b)]));
    for (const k of models) wins[k] &&= s[`hone-${k}`].regret <= s[`optuna-${k}`].regret;
    rows.push({ fname, b, s });
  }
  for (const k of models) if (wins[k]) verdict[k]++;
  rows.push({ fname, wins });
}
const fmt = (v) => (v === 0 ? "0" : v < 1e-3 || v >= 1e4 ? v.toExponential(2) : v.toPrecision(3));
const header = `| function | trials | ${COLS.map((c) =>
  c
    .replace("-", " ")
    .replace("hone", "Hone")
    .replace("optuna", "Optuna")
    .replace(/ (tpe|gp)$/, (m) => m.toUpperCase()),
).join(" | ")} |\n|---|---|${COLS.map(() => "---").join("|")}|`;
const lines = [];
for (const r of rows) {
  if (r.wins) continue;
  lines.push(`| ${r.fname} | ${r.b} | ${COLS.map((c) => fmt(r.s[c].regret)).join(" | ")} |`);
}
const speed = `| sampling time per trial (ms, all functions) | | ${COLS.map((c) => ((runs.filter((r) => r.sampler === c).reduce((a, r) => a + r.seconds, 0) * 1000) / runs.filter((r) => r.sampler === c).reduce((a, r) => a + r.values.length, 0)).toFixed(1)).join(" | ")} |`;
const perFunction = functions
  .map((f) => {
    const w = rows.find((r) => r.fname === f && r.wins).wins;
    return `${f}: ${models.map((m) => `${m.toUpperCase()} ${w[m] ? "no worse" : "worse"}`).join(", ")}`;
  })
  .join("; ");
const summary = `Hone no worse than Optuna (median regret at every budget), seeds ${firstSeed}-${firstSeed + seeds - 1}: ${models.map((m) => `${m.toUpperCase()} on ${verdict[m]} of ${functions.length} functions`).join(", ")} (${perFunction}).`;
console.log(`${[header, ...lines, speed].join("\n")}\n\n${summary}`);

if (record) {
  const section = [
    "<!-- samplers:start -->",
    "## Hyperparameter search: samplers vs Optuna",
    "",
    `Command: \`node bench/samplers.mjs --seeds ${seeds}${firstSeed ? ` --first-seed ${firstSeed}` : ""} --trials ${trials}${functions.length < Object.keys(FUNCTIONS).length ? ` --functions ${functions.join(",")}` : ""}${models.join() !== "tpe,gp" ? ` --models ${models.join(",")}` : ""}\`  `,
    `Machine: ${machine}  `,
    `Peer: Optuna ${optunaVersion} (TPESampler and GPSampler with their defaults, seeded), same run  `,
    `Date: ${date}${rendering ? ` (table rendered from \`${rendering}\`)` : ""}`,
    "",
    `Median over ${seeds} seeds of the best-found regret (best value minus the known minimum; lower is better) after 30 and 100 trials. Both sides start with 10 startup trials (Hone: scrambled Sobol, Optuna: random). Functions and spaces in \`bench/samplers/functions.mjs\` (mixed: two floats, an int, a log-scaled float and a 4-way choice).`,
    "",
    header,
    ...lines,
    speed,
    "",
    summary,
    "",
    readFileSync(join(root, "bench", "samplers", "notes.md"), "utf8").trim(),
    "<!-- samplers:end -->",
  ].join("\n");
  const docPath = join(root, "docs", "benchmarks.md");
  let doc = readFileSync(docPath, "utf8");
  const [start, end] = ["<!-- samplers:start -->", "<!-- samplers:end -->"];
  doc = doc.includes(start) ? doc.slice(0, doc.indexOf(start)) + section + doc.slice(doc.indexOf(end) + end.length) : `${doc}\n${section}\n`;
  writeFileSync(docPath, doc);
}
