// Benchmark: extractive QA on SQuAD v1.1, Hone vs the Hugging Face Trainer recipe
// (bench/peers/hf_trainer_qa.py), same model / data / epochs / lr / batch / max length / stride /
// seed, back to back in one invocation. Both train on the 44-article train sample (all of it, no
// validation: the last model is tested) and answer the dev set (or its first N articles).
//   node bench/qa.mjs run [--articles N] [--tag NAME]   -> bench/results/qa-squad-<tag>.json
//   node bench/qa.mjs render                            -> the "qa" section of docs/benchmarks.md
// Both sides' answers are scored by the same scorer (Hone's port of the official SQuAD script).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, hostname, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const results = join(root, "bench", "results");
const [mode = "render", ...rest] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? rest[i + 1] : dflt;
};

function sh(cmd, args, opts = {}) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 30, ...opts });
  if (r.status !== 0) {
    process.stderr.write((r.stdout ?? "").slice(-3000) + (r.stderr ?? "").slice(-3000));
    throw new Error(`${cmd} ${args.join(" ")} failed with ${r.status}`);
  }
  return { stdout: r.stdout, wall: (Date.now() - t0) / 1000 };
}

async function run() {
  const tag = opt("tag", "cpu");
  const articles = opt("articles", null);
  const data = process.env.BENCH_DATA ?? join(root, "..", "shared", "data");
  const out = join(root, "bench", "out");
  mkdirSync(out, { recursive: true });
  const train = join(data, "squad-v1.1", "train-v1.1.first-44-articles.json");
  let test = join(data, "squad-v1.1", "dev-v1.1.json");
  if (articles) {
    const dev = JSON.parse(readFileSync(test, "utf8"));
    test = join(out, `squad-dev-first-${articles}.json`);
    writeFileSync(test, JSON.stringify({ ...dev, data: dev.data.slice(0, Number(articles)) }));
  }
  const cfgPath = join(root, "bench", "configs", "qa-squad.yaml");
  const store = join(out, "store-qa");
  rmSync(store, { recursive: true, force: true });
  const extra = (process.env.BENCH_SET ?? "")
    .split(" ")
    .filter(Boolean)
    .flatMap((s) => ["--set", s]);
  process.stderr.write("== squad: hone\n");
  const hone = sh(
    process.execPath,
    [join(root, "bin", "hone"), "--store", store, "train", cfgPath, "--json", "--set", `data.train=${train}`, "--set", `data.test=${test}`, ...extra],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const result = JSON.parse(hone.stdout.trim().split("\n").at(-1));
  const resolved = JSON.parse(readFileSync(join(store, "runs", result.run, "config.json"), "utf8"));
  const t = resolved.train;
  process.stderr.write(
    `== squad: Hugging Face Trainer (lr ${t.lr}, ${t.epochs} epochs, batch ${t.batch_size}, max length ${resolved.data.max_length}, stride ${resolved.qa.stride})\n`,
  );
  const python = process.env.HONE_PYTHON ?? join(root, ".venv", "bin", "python");
  const peerOut = join(out, "hf-qa");
  const hf = sh(
    python,
    [
      join(root, "bench", "peers", "hf_trainer_qa.py"),
      ...["--train", train, "--validation", train, "--test", test, "--model", resolved.model.dir, "--out", peerOut],
      ...["--epochs", t.epochs, "--lr", t.lr, "--batch-size", t.batch_size, "--max-length", resolved.data.max_length, "--stride", resolved.qa.stride],
      ...[
        "--warmup-ratio",
        t.warmup_ratio,
        "--weight-decay",
        t.weight_decay,
        "--seed",
        t.seed,
        "--n-best",
        resolved.qa.n_best,
        "--max-answer",
        resolved.qa.max_answer_tokens,
      ],
      ...(t.compile ? ["--compile"] : []),
    ].map(String),
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  rmSync(peerOut, { recursive: true, force: true });
  const peer = JSON.parse(hf.stdout.trim().split("\n").at(-1));
  const { readQaSource } = await import(join(root, "dist", "qa", "formats.js"));
  const { qaMetrics } = await import(join(root, "dist", "qa", "metrics.js"));
  const gold = readQaSource({ path: test, format: "json" });
  const peerMetrics = qaMetrics(
    gold.map((e) => e.answers.map((a) => a.text)),
    peer.answers,
  );
  const record = {
    bench: "qa",
    dataset: articles ? `SQuAD v1.1 dev, first ${articles} articles (${gold.length} questions)` : `SQuAD v1.1 dev (${gold.length} questions)`,
    command: `${process.env.BENCH_SET ? `BENCH_SET="${process.env.BENCH_SET}" ` : ""}node bench/qa.mjs run${articles ? ` --articles ${articles}` : ""}${tag !== "cpu" ? ` --tag ${tag}` : ""}`,
    date: new Date().toISOString(),
    machine: { host: hostname(), cpus: cpus().length, cpu: cpus()[0]?.model ?? "", ram_gib: Math.round(totalmem() / 2 ** 30), device: t.device },
    versions: { transformers: peer.transformers, torch: peer.torch },
    settings: {
      model: resolved.model.ref,
      epochs: t.epochs,
      lr: t.lr,
      batch_size: t.batch_size,
      max_length: resolved.data.max_length,
      stride: resolved.qa.stride,
      seed: t.seed,
      precision: t.precision,
      compile: t.compile,
    },
    hone: { run: result.run, wall_s: hone.wall, test: result.test },
    peer: { name: "HF Trainer", wall_s: hf.wall, test: peerMetrics },
  };
  mkdirSync(results, { recursive: true });
  const file = join(results, `qa-squad-${tag}.json`);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  process.stderr.write(`wrote ${file}\n`);
}

function render() {
  const pct = (v) => (v === null || v === undefined ? "-" : (v * 100).toFixed(2));
  const files = existsSync(results) ? readdirSync(results).filter((f) => /^qa-.*\.json$/.test(f)) : [];
  const records = files.sort().map((f) => ({ file: f, ...JSON.parse(readFileSync(join(results, f), "utf8")) }));
  const rows = records.map(
    (r) =>
      `| ${r.dataset} | ${r.machine.device}${r.settings.compile ? ", compiled" : ""} | ${r.settings.epochs} | ${pct(r.hone.test.exact_match)} / ${pct(r.peer.test.exact_match)} | ${pct(r.hone.test.f1)} / ${pct(r.peer.test.f1)} | ${r.hone.wall_s.toFixed(0)} s / ${r.peer.wall_s.toFixed(0)} s | ${(r.hone.wall_s / r.peer.wall_s).toFixed(2)} | \`${r.file}\` |`,
  );
  const section = [
    "<!-- qa:start -->",
    "## Extractive QA: Hone vs the Hugging Face Trainer recipe (SQuAD v1.1)",
    "",
    "Command: `node bench/qa.mjs run [--articles N]` (config `bench/configs/qa-squad.yaml`, peer `bench/peers/hf_trainer_qa.py`), then `node bench/qa.mjs render`; rows rendered from their raw JSON under `bench/results/`.",
    "",
    "Both sides train on `train-v1.1.first-44-articles.json`, a **sample** of SQuAD's train set (11,877 of 87,599 questions; published SQuAD scores train on all of it), with the same model, epochs, learning rate, batch, warmup, weight decay, max length, stride and seed, and answer the official dev set (or its first articles) with n-best 20 and answers of at most 30 tokens. Exact match and F1 are the official SQuAD definitions, computed by the same scorer for both sides. Wall time: the whole command.",
    "",
    "| test data | device | epochs | exact match, Hone / HF | F1, Hone / HF | wall, Hone / HF | wall ratio | raw |",
    "|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    ...records.map(
      (r) =>
        `- \`${r.file}\`: \`${r.command}\` (${r.machine.cpus} × ${r.machine.cpu}; torch ${r.versions.torch}, transformers ${r.versions.transformers}; ${r.date.slice(0, 10)})`,
    ),
    "<!-- qa:end -->",
  ].join("\n");
  const docPath = join(root, "docs", "benchmarks.md");
  let doc = readFileSync(docPath, "utf8");
  const a = doc.indexOf("<!-- qa:start -->");
  const b = doc.indexOf("<!-- qa:end -->");
  doc = a >= 0 && b > a ? doc.slice(0, a) + section + doc.slice(b + "<!-- qa:end -->".length) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(docPath, doc);
  console.log(section);
}

if (mode === "run") await run();
render();
