// Benchmark: extractive QA on SQuAD v1.1, Hone vs the Hugging Face Trainer recipe
// (bench/peers/hf_trainer_qa.py), same model / data / epochs / lr / batch / max length / stride /
// seed, back to back in one invocation. Both train on the 44-article train sample (all of it, no
// validation: the last model is tested) and answer the dev set (or its first N articles).
//   node bench/qa.mjs run [--articles N] [--train-articles N] [--tag NAME]   -> bench/results/qa-squad-<tag>.json
//   node bench/qa.mjs deploy                            -> bench/results/qa-deploy-<tag>.json (PyTorch vs ONNX fp32/int8 in Node)
//   node bench/qa.mjs render                            -> the "qa" section of docs/benchmarks.md
// Both sides' answers are scored by the same scorer (Hone's port of the official SQuAD script).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, hostname, totalmem } from "node:os";
import { join } from "node:path";
import { root, sh, writeDocSection } from "./lib.mjs";

const results = join(root, "bench", "results");
const [mode = "render", ...rest] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? rest[i + 1] : dflt;
};

async function run() {
  const tag = opt("tag", "cpu");
  const articles = opt("articles", null);
  const data = process.env.BENCH_DATA ?? join(root, "..", "shared", "data");
  const out = join(root, "bench", "out");
  mkdirSync(out, { recursive: true });
  let train = join(data, "squad-v1.1", "train-v1.1.first-44-articles.json");
  const trainArticles = opt("train-articles", null);
  if (trainArticles) {
    const doc = JSON.parse(readFileSync(train, "utf8"));
    train = join(out, `squad-train-first-${trainArticles}.json`);
    writeFileSync(train, JSON.stringify({ ...doc, data: doc.data.slice(0, Number(trainArticles)) }));
  }
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
    dataset: `${articles ? `SQuAD v1.1 dev, first ${articles} articles (${gold.length} questions)` : `SQuAD v1.1 dev (${gold.length} questions)`}${trainArticles ? `; trained on the first ${trainArticles} train articles` : ""}`,
    command: `${process.env.BENCH_SET ? `BENCH_SET="${process.env.BENCH_SET}" ` : ""}node bench/qa.mjs run${articles ? ` --articles ${articles}` : ""}${trainArticles ? ` --train-articles ${trainArticles}` : ""}${tag !== "cpu" ? ` --tag ${tag}` : ""}`,
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

/** The CPU run as PyTorch fp32 (the engine) and as ONNX fp32 / int8 bundles in Node: EM/F1 on its
 * test questions, size, batch-1 latency p50 (one question per call). */
async function deploy() {
  const tag = opt("tag", "cpu");
  const dist = (p) => import(join(root, "dist", ...p.split("/")));
  const { load } = await dist("deploy/runtime.js");
  const { readQaSource } = await dist("qa/formats.js");
  const { qaMetrics } = await dist("qa/metrics.js");
  const { encodeQa, SPAN_HEAD } = await dist("qa/pipeline.js");
  const { QaEncoder } = await dist("qa/windows.js");
  const { runEngine } = await dist("engine/process.js");
  const { modelSpec } = await dist("predict/logits.js");
  const { PROTOCOL_VERSION } = await dist("protocol/schema.js");
  const trained = JSON.parse(readFileSync(join(results, `qa-squad-${tag}.json`), "utf8"));
  const store = join(root, "bench", "out", "store-qa");
  const runDir = join(store, "runs", trained.hone.run);
  const modelDir = join(runDir, "model");
  const cfg = JSON.parse(readFileSync(join(runDir, "config.json"), "utf8"));
  const qa = JSON.parse(readFileSync(join(modelDir, "qa.json"), "utf8"));
  const test = readQaSource({ path: cfg.data.test.path, format: "json" });
  const gold = test.map((e) => e.answers.map((a) => a.text));
  const threads = Number(process.env.BENCH_THREADS ?? cpus().length);
  const samples = Math.min(test.length, Number(process.env.BENCH_LATENCY_SAMPLES ?? 200));
  const p50 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const work = join(root, "bench", "out", "deploy-qa");
  rmSync(work, { recursive: true, force: true });
  const enc = await QaEncoder.open(modelDir, { maxLength: qa.max_length, stride: qa.stride, maxQuestion: qa.max_question_tokens });
  const { files } = await encodeQa(enc, test.slice(0, samples), work, "latency", false);
  const timed = await runEngine({
    kind: "classify.bench",
    protocol_version: PROTOCOL_VERSION,
    model: modelSpec({ ...cfg, train: { ...cfg.train, device: "cpu", precision: "fp32" } }, modelDir),
    heads: [{ name: SPAN_HEAD, num_labels: 2, multi_label: false, level: "span", label_smoothing: 0, loss_weight: 1 }],
    weights: join(modelDir, "model.safetensors"),
    data: files.shard,
    latency_samples: samples,
    batch_size: 32,
    threads,
  });
  const timing = timed.events.find((e) => e.type === "timing");
  const rows = [
    {
      form: "PyTorch fp32",
      runtime: "engine (Python)",
      bytes: statSync(join(modelDir, "model.safetensors")).size,
      p50_ms: p50(timing.latency_ms),
      exact_match: trained.hone.test.exact_match,
      f1: trained.hone.test.f1,
    },
  ];
  for (const q of ["none", "int8"]) {
    const bundle = join(work, `onnx-${q}`);
    sh(process.execPath, [join(root, "bin", "hone"), "--store", store, "export", trained.hone.run, "--quantize", q, "--out", bundle], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const model = await load(bundle, { threads, batchSize: 32 });
    const texts = test.map((e) => JSON.stringify({ question: e.question, context: e.context }));
    const answers = await model.predict(texts);
    const m = qaMetrics(
      gold,
      answers.map((a) => a.answer),
    );
    const lat = [];
    for (const t of texts.slice(0, samples)) {
      const t0 = performance.now();
      await model.predict([t]);
      lat.push(performance.now() - t0);
    }
    await model.close();
    rows.push({
      form: `ONNX ${q === "none" ? "fp32" : q}`,
      runtime: "Node (onnxruntime-node)",
      bytes: statSync(join(bundle, "model.onnx")).size,
      p50_ms: p50(lat),
      exact_match: m.exact_match,
      f1: m.f1,
    });
  }
  const record = {
    bench: "qa-deploy",
    command: `node bench/qa.mjs deploy${tag !== "cpu" ? ` --tag ${tag}` : ""}`,
    date: new Date().toISOString(),
    machine: { host: hostname(), cpus: cpus().length, cpu: cpus()[0]?.model ?? "", threads },
    run: trained.hone.run,
    test: trained.dataset,
    latency: "batch 1, one question per call (PyTorch: the model on its windows' ids; Node: windows, the graph and answer decoding)",
    latency_samples: samples,
    rows,
  };
  writeFileSync(join(results, `qa-deploy-${tag}.json`), `${JSON.stringify(record, null, 2)}\n`);
}

function render() {
  const pct = (v) => (v === null || v === undefined ? "-" : (v * 100).toFixed(2));
  const files = existsSync(results) ? readdirSync(results).filter((f) => /^qa-squad-.*\.json$/.test(f)) : [];
  const deployed = existsSync(results)
    ? readdirSync(results)
        .filter((f) => /^qa-deploy-.*\.json$/.test(f))
        .sort()
        .map((f) => ({ file: f, ...JSON.parse(readFileSync(join(results, f), "utf8")) }))
    : [];
  const deployRows = deployed.flatMap((d) =>
    d.rows.map(
      (x) =>
        `| ${d.test} | ${x.form} | ${x.runtime} | ${(x.bytes / 2 ** 20).toFixed(1)} MiB | ${x.p50_ms.toFixed(2)} ms | ${pct(x.exact_match)} (${x === d.rows[0] ? "ref" : ((x.exact_match - d.rows[0].exact_match) * 100).toFixed(2)}) | ${pct(x.f1)} (${x === d.rows[0] ? "ref" : ((x.f1 - d.rows[0].f1) * 100).toFixed(2)}) | \`${d.file}\` |`,
    ),
  );
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
    "",
    "### Deployed: PyTorch vs ONNX fp32 / int8 in Node (the CPU run above)",
    "",
    deployed[0]
      ? `Command: \`${deployed[0].command}\`; ${deployed[0].machine.cpus} × ${deployed[0].machine.cpu}, ${deployed[0].machine.threads} threads; latency: ${deployed[0].latency}, p50 of ${deployed[0].latency_samples} questions. Scores on all of that run's test questions; the change against PyTorch in points.`
      : "",
    "",
    "| test data | form | runtime | size | p50 batch 1 | exact match (change) | F1 (change) | raw |",
    "|---|---|---|---|---|---|---|---|",
    ...deployRows,
    "<!-- qa:end -->",
  ].join("\n");
  writeDocSection("qa", section);
  console.log(section);
}

if (mode === "run") await run();
if (mode === "deploy") await deploy();
render();
