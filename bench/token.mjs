// Benchmark: token tasks, Hone vs the Hugging Face Trainer recipe (bench/peers/hf_trainer_token.py),
// same model / data / epochs / lr / batch / max length / seed, back to back in one invocation.
//   node bench/token.mjs run [snips] [wnut17] [--tag NAME]   -> bench/results/token-<dataset>-<tag>.json
//   node bench/token.mjs deploy [snips] [wnut17] [--tag NAME] -> bench/results/token-deploy-<dataset>-<tag>.json:
//        the run trained by `run`, as PyTorch fp32 (the engine) and ONNX fp32 / int8 bundles in Node:
//        test F1 (and intent accuracy), size, batch-1 latency p50
//   node bench/token.mjs render                              -> the "token" section of docs/benchmarks.md
// Both sides' test predictions are scored by the same scorer (Hone's, conlleval's rules); the
// peer's own seqeval F1 is recorded beside it as a check of that scorer.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, hostname, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { root, sh, writeDocSection } from "./lib.mjs";
import { parse } from "yaml";

const results = join(root, "bench", "results");
const [mode = "render", ...rest] = process.argv.slice(2);

async function runBench(names, tag) {
  const { readTokenSource } = await import(join(root, "dist", "token", "formats.js"));
  const { tokenMetrics } = await import(join(root, "dist", "token", "metrics.js"));
  const { entities, toTags, detectScheme } = await import(join(root, "dist", "token", "tags.js"));
  const python = process.env.HONE_PYTHON ?? join(root, ".venv", "bin", "python");
  const out = join(root, "bench", "out");
  for (const name of names) {
    const cfgPath = join(root, "bench", "configs", `token-${name}.yaml`);
    const cfg = parse(readFileSync(cfgPath, "utf8"));
    // BENCH_DATA: where ../shared/data is on a machine without it beside the project (the device).
    const at = (p) => (process.env.BENCH_DATA ? p.replace("../../../shared/data", process.env.BENCH_DATA) : resolve(dirname(cfgPath), p));
    const dataSets = ["train", "validation", "test"].flatMap((k) => ["--set", `data.${k}=${at(cfg.data[k])}`]);
    const extra = (process.env.BENCH_SET ?? "")
      .split(" ")
      .filter(Boolean)
      .flatMap((s) => ["--set", s]);
    const store = join(out, `store-token-${name}`);
    rmSync(store, { recursive: true, force: true });
    process.stderr.write(`== ${name}: hone\n`);
    const hone = sh(process.execPath, [join(root, "bin", "hone"), "--store", store, "train", cfgPath, "--json", ...dataSets, ...extra], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const result = JSON.parse(hone.stdout.trim().split("\n").at(-1));
    const resolved = JSON.parse(readFileSync(join(result.run_dir ?? join(store, "runs", result.run), "config.json"), "utf8"));
    const t = resolved.train;
    process.stderr.write(`== ${name}: Hugging Face Trainer (lr ${t.lr}, ${t.epochs} epochs, batch ${t.batch_size}, max length ${resolved.data.max_length})\n`);
    const peerOut = join(out, `hf-token-${name}`);
    rmSync(peerOut, { recursive: true, force: true });
    const model = resolved.model.dir;
    const peerArgs = [
      join(root, "bench", "peers", "hf_trainer_token.py"),
      ...["--train", at(cfg.data.train), "--validation", at(cfg.data.validation), "--test", at(cfg.data.test), "--model", model],
      ...["--epochs", t.epochs, "--lr", t.lr, "--batch-size", t.batch_size, "--max-length", resolved.data.max_length],
      ...["--warmup-ratio", t.warmup_ratio, "--weight-decay", t.weight_decay, "--seed", t.seed, "--out", peerOut],
      ...(t.compile ? ["--compile"] : []),
    ].map(String);
    const hf = sh(python, peerArgs, { stdio: ["ignore", "pipe", "inherit"] });
    const peer = JSON.parse(hf.stdout.trim().split("\n").at(-1));
    rmSync(peerOut, { recursive: true, force: true });

    // The peer's words are the files' words, as Hone's are; both scored here the same way.
    const src = {
      path: at(cfg.data.test),
      format: "auto",
      pointer: null,
      fields: { tokens: "tokens", tags: "tags", spans: "spans", text: "text", intent: "label" },
      requireLabels: true,
    };
    const test = readTokenSource(src);
    const scheme = detectScheme(test.flatMap((e) => e.tags ?? []));
    const truth = test.map((e) => ({ entities: e.entities, tags: toTags(e.entities, e.words.length, scheme), intent: e.intent }));
    const guess = peer.test_tags.map((tags, i) => ({
      entities: entities(tags),
      tags: toTags(entities(tags), tags.length, scheme),
      intent: peer.test_intents?.[i] ?? null,
    }));
    const peerMetrics = tokenMetrics(truth, guess);
    const { per_type: _p, ...peerScores } = peerMetrics;
    const { per_type: _h, ...honeScores } = result.test;
    const record = {
      bench: "token",
      dataset: name,
      command: `${process.env.BENCH_SET ? `BENCH_SET="${process.env.BENCH_SET}" ` : ""}node bench/token.mjs run ${name}${tag !== "cpu" ? ` --tag ${tag}` : ""}`,
      config: `bench/configs/token-${name}.yaml`,
      date: new Date().toISOString(),
      machine: {
        host: hostname(),
        cpus: cpus().length,
        cpu: cpus()[0]?.model ?? "",
        ram_gib: Math.round(totalmem() / 2 ** 30),
        device: t.device,
        node: process.version,
      },
      versions: { transformers: peer.transformers, torch: peer.torch },
      settings: {
        model: resolved.model.ref,
        epochs: t.epochs,
        lr: t.lr,
        batch_size: t.batch_size,
        max_length: resolved.data.max_length,
        seed: t.seed,
        precision: t.precision,
        compile: t.compile,
      },
      hone: { run: result.run, wall_s: hone.wall, test: honeScores },
      peer: {
        name: "HF Trainer",
        wall_s: hf.wall,
        tag_wall_s: peer.tag_wall_s,
        intent_wall_s: peer.intent_wall_s ?? null,
        test: peerScores,
        seqeval_f1: peer.seqeval_f1,
      },
    };
    mkdirSync(results, { recursive: true });
    const file = join(results, `token-${name}-${tag}.json`);
    writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
    process.stderr.write(`wrote ${file}\n`);
  }
}

async function deployBench(names, tag) {
  const dist = (p) => import(join(root, "dist", ...p.split("/")));
  const { load } = await dist("deploy/runtime.js");
  const { bundleLogits } = await dist("token/predict.js");
  const { encodeSplit, scoreSplit } = await dist("token/encode.js");
  const { readTokenSource } = await dist("token/formats.js");
  const { readTokenModel, tokenHeads } = await dist("token/model.js");
  const { WordAligner } = await dist("token/align.js");
  const { runEngine } = await dist("engine/process.js");
  const { modelSpec } = await dist("predict/logits.js");
  const { headSpecs } = await dist("classifier/heads.js");
  const { PROTOCOL_VERSION } = await dist("protocol/schema.js");
  const threads = Number(process.env.BENCH_THREADS ?? cpus().length);
  const samples = Number(process.env.BENCH_LATENCY_SAMPLES ?? 200);
  const p50 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const name of names) {
    const trained = JSON.parse(readFileSync(join(results, `token-${name}-${tag}.json`), "utf8"));
    const store = join(root, "bench", "out", `store-token-${name}`);
    const runDir = join(store, "runs", trained.hone.run);
    const modelDir = join(runDir, "model");
    const cfg = JSON.parse(readFileSync(join(runDir, "config.json"), "utf8"));
    const test = readTokenSource({
      ...cfg.data.test,
      fields: { ...cfg.token.fields, text: cfg.data.test.text, intent: cfg.data.test.label },
      requireLabels: true,
    });
    const gold = { examples: test.map((e) => ({ entities: e.entities, intent: e.intent, words: e.words.length })) };
    const m = readTokenModel(modelDir);
    const rows = [];

    // PyTorch fp32 in the engine: the run's own test metrics, and its batch-1 latency on the test shard.
    const work = join(root, "bench", "out", `deploy-${name}`);
    rmSync(work, { recursive: true, force: true });
    const { shard } = await encodeSplit(m, new WordAligner(modelDir, m.max_length), test, work, "test", false);
    const timed = await runEngine({
      kind: "classify.bench",
      protocol_version: PROTOCOL_VERSION,
      model: modelSpec({ ...cfg, train: { ...cfg.train, device: "cpu", precision: "fp32" } }, modelDir),
      heads: headSpecs({ heads: tokenHeads(m, cfg.token.intent_weight) }, 0),
      weights: join(modelDir, "model.safetensors"),
      data: shard,
      latency_samples: samples,
      batch_size: 32,
      threads,
    });
    const timing = timed.events.find((e) => e.type === "timing");
    const ref = trained.hone.test;
    rows.push({
      form: "PyTorch fp32",
      runtime: "engine (Python)",
      bytes: statSync(join(modelDir, "model.safetensors")).size,
      p50_ms: p50(timing.latency_ms),
      f1: ref.f1,
      intent_accuracy: ref.intent_accuracy,
    });

    for (const q of ["none", "int8"]) {
      const bundle = join(work, `onnx-${q}`);
      sh(process.execPath, [join(root, "bin", "hone"), "--store", store, "export", trained.hone.run, "--quantize", q, "--out", bundle], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const model = await load(bundle, { threads, batchSize: 32 });
      const b = await bundleLogits(model, test);
      const { metrics } = scoreSplit(b.m, { ...gold, rows: b.rows }, b.tagRows, b.intentRows, null);
      const texts = test.slice(0, samples).map((e) => e.text);
      for (const t of texts.slice(0, 5)) await model.predict([t]);
      const lat = [];
      for (const t of texts) {
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
        f1: metrics.f1,
        intent_accuracy: metrics.intent_accuracy,
      });
    }
    const record = {
      bench: "token-deploy",
      dataset: name,
      command: `node bench/token.mjs deploy ${name}${tag !== "cpu" ? ` --tag ${tag}` : ""}`,
      date: new Date().toISOString(),
      machine: { host: hostname(), cpus: cpus().length, cpu: cpus()[0]?.model ?? "", threads },
      run: trained.hone.run,
      latency: "batch 1, end to end per text (PyTorch: the model call on tokenized ids; Node: tokenization, alignment, the graph and decoding)",
      latency_samples: samples,
      rows,
    };
    const file = join(results, `token-deploy-${name}-${tag}.json`);
    writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
    process.stderr.write(`wrote ${file}\n`);
  }
}

function render() {
  const pct = (v) => (v === null || v === undefined ? "-" : (v * 100).toFixed(2));
  const files = existsSync(results) ? readdirSync(results).filter((f) => /^token-.*\.json$/.test(f) && !f.startsWith("token-deploy-")) : [];
  const deployFiles = existsSync(results) ? readdirSync(results).filter((f) => /^token-deploy-.*\.json$/.test(f)) : [];
  const deploy = deployFiles.sort().map((f) => ({ file: f, ...JSON.parse(readFileSync(join(results, f), "utf8")) }));
  const deployRows = deploy.flatMap((d) => {
    const ref = d.rows[0];
    return d.rows.map(
      (x) =>
        `| ${d.dataset} | ${x.form} | ${x.runtime} | ${(x.bytes / 2 ** 20).toFixed(1)} MiB | ${x.p50_ms.toFixed(2)} ms | ${pct(x.f1)} (${x === ref ? "ref" : `${((x.f1 - ref.f1) * 100).toFixed(2)}`}) | ${pct(x.intent_accuracy)} | \`${d.file}\` |`,
    );
  });
  const records = files.map((f) => ({ file: f, ...JSON.parse(readFileSync(join(results, f), "utf8")) })).sort((a, b) => a.file.localeCompare(b.file));
  const rows = records.map((r) => {
    const h = r.hone.test;
    const p = r.peer.test;
    return `| ${r.dataset} | ${r.machine.device}${r.settings.compile ? ", compiled" : ""} | ${r.settings.epochs} | ${pct(h.f1)} / ${pct(p.f1)} (seqeval ${pct(r.peer.seqeval_f1)}) | ${pct(h.intent_accuracy)} / ${pct(p.intent_accuracy)} | ${pct(h.exact_match)} / ${pct(p.exact_match)} | ${r.hone.wall_s.toFixed(0)} s / ${r.peer.wall_s.toFixed(0)} s | ${(r.hone.wall_s / r.peer.wall_s).toFixed(2)} | \`${r.file}\` |`;
  });
  const first = records[0];
  const section = [
    "<!-- token:start -->",
    "## Token tasks: Hone vs the Hugging Face Trainer recipe (entities, slots + intents)",
    "",
    "Command: `node bench/token.mjs run snips wnut17` (configs `bench/configs/token-*.yaml`, peer `bench/peers/hf_trainer_token.py`), then `node bench/token.mjs render`; each row is rendered from its raw JSON under `bench/results/`.  ",
    first
      ? `Machine of the first row: ${first.machine.cpus} × ${first.machine.cpu}, ${first.machine.ram_gib} GiB; torch ${first.versions.torch}, transformers ${first.versions.transformers}; ${first.date.slice(0, 10)}`
      : "",
    "",
    "Same model, data, epochs, learning rate, batch, warmup, weight decay, max length and seed on both sides. The peer is the Trainer's token-classification recipe (first word piece labelled, best epoch by validation entity F1); for SNIPS intents it trains a second model (AutoModelForSequenceClassification) and its wall time is the sum of both. Hone trains one encoder with a tag head and an intent head and decodes the tags under the scheme's constraints. Entity F1 is exact span and type (conlleval's rules), computed by the same scorer for both sides; the peer's own seqeval F1 is shown as a check. Wall time is the whole command (reading data, tokenization, training, per-epoch validation, test).",
    "",
    "| data | device | epochs | entity F1 test, Hone / HF | intent acc, Hone / HF | sentence exact match, Hone / HF | wall, Hone / HF | wall ratio | raw |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    "Each row's command (GPU rows ran on the device through `bench/gpu/token.sh`, which carries Node, the data and the default model packed: vocabulary rows no text uses zeroed, weights stored fp16 and turned back into fp32 there; both sides train from those same weights; the peer runs in bf16 with `torch_compile=True`, as Hone does):",
    "",
    ...records.map((r) => `- \`${r.file}\`: \`${r.command}\` (${r.machine.device}, ${r.settings.precision}, ${r.date.slice(0, 10)})`),
    "",
    "### Deployed: PyTorch vs ONNX fp32 / int8 in Node (the CPU runs above)",
    "",
    deploy[0]
      ? `Command: \`${deploy[0].command}\` per data set; ${deploy[0].machine.cpus} × ${deploy[0].machine.cpu}, ${deploy[0].machine.threads} threads; latency: ${deploy[0].latency}, p50 of ${deploy[0].latency_samples} test sentences. F1 and intent accuracy on the full test split; the change against PyTorch in points.`
      : "",
    "",
    "| data | form | runtime | size | p50 batch 1 | entity F1 (change) | intent acc | raw |",
    "|---|---|---|---|---|---|---|---|",
    ...deployRows,
    "<!-- token:end -->",
  ].join("\n");
  writeDocSection("token", section);
  console.log(section);
}

if (mode === "deploy") {
  const tagAt = rest.indexOf("--tag");
  const tag = tagAt >= 0 ? rest[tagAt + 1] : "cpu";
  const names = rest.filter((_, i) => tagAt < 0 || (i !== tagAt && i !== tagAt + 1));
  await deployBench(names.length ? names : ["snips", "wnut17"], tag);
  render();
} else if (mode === "run") {
  const tagAt = rest.indexOf("--tag");
  const tag = tagAt >= 0 ? rest[tagAt + 1] : "cpu";
  const names = rest.filter((_, i) => tagAt < 0 || (i !== tagAt && i !== tagAt + 1));
  await runBench(names.length ? names : ["snips", "wnut17"], tag);
  render();
} else render();
