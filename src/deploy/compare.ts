// `hone export <run> --compare`: the size / latency / accuracy trade-off of the deployable forms
// of a run, measured on its own test split: PyTorch eager fp32 (the engine, the reference) and
// ONNX fp32 / fp16 / int8 in Node. Printed as a table, drawn as a plot in the run's report.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { cpus } from "node:os";
import { loadDataset } from "../data/dataset.js";
import { runEngine } from "../engine/process.js";
import { metricValue } from "../metrics/classification.js";
import type { EventOf, TokenShard } from "../protocol/schema.js";
import { PROTOCOL_VERSION } from "../protocol/schema.js";
import { openFinishedRun } from "../predict/predict.js";
import { modelSpec } from "../predict/logits.js";
import { scatterChart, svgToPng } from "../report/plots.js";
import { runPaths } from "../run/artifacts.js";
import { RunStore, storeDir } from "../store/store.js";
import { computeMetrics, readDecoding, type Targets } from "../classifier/evaluate.js";
import { headSpecs } from "../classifier/heads.js";
import { HoneError } from "../util/errors.js";
import { writeFileAtomic, writeJsonAtomic } from "../util/fs.js";
import { exportOnnx, type Quantize } from "./export.js";
import { load } from "./runtime.js";

export interface TradeoffRow {
  form: string;
  runtime: string;
  bytes: number;
  p50_ms: number;
  p99_ms: number;
  /** Texts per second at the batch size given. */
  throughput: number;
  accuracy: number;
}

export const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

export async function compareDeployments(ref: string, opts: { store?: string; latencySamples?: number; batchSize?: number; threads?: number } = {}) {
  const store = new RunStore(storeDir(opts.store));
  let r: ReturnType<typeof openFinishedRun>;
  try {
    r = openFinishedRun(store, ref);
  } finally {
    store.close();
  }
  const samples = opts.latencySamples ?? 200;
  const batch = opts.batchSize ?? 32;
  const threads = opts.threads ?? Math.max(1, cpus().length);
  const files = JSON.parse(readFileSync(join(runPaths(r.run.run_dir).data, "run-files.json"), "utf8")) as {
    shards: { test: TokenShard | null };
    targets: { test: Targets };
  };
  const testFile = join(runPaths(r.run.run_dir).report, "metrics.test.json");
  if (!files.shards.test || !existsSync(testFile))
    throw new HoneError("usage", `run ${r.run.id} has no test split to compare on`, [
      { message: "compare measures accuracy on the test split", hint: "train with a test file or split.test > 0" },
    ]);
  const texts = loadDataset(r.cfg).test.map((e) => e.text);
  const rows: TradeoffRow[] = [];

  // The reference: PyTorch eager fp32 in the engine (tokenization not timed there).
  const bench = await runEngine({
    kind: "classify.bench",
    protocol_version: PROTOCOL_VERSION,
    model: modelSpec(r.cfg, r.modelDir),
    heads: headSpecs(r.plan, 0),
    weights: r.weights,
    data: files.shards.test,
    latency_samples: samples,
    batch_size: batch,
    threads,
  });
  const timing = bench.events.find((e): e is EventOf<"timing"> => e.type === "timing")!;
  const lat = [...timing.latency_ms].sort((a, b) => a - b);
  const test = JSON.parse(readFileSync(testFile, "utf8"));
  rows.push({
    form: "PyTorch fp32",
    runtime: "PyTorch eager (Python)",
    bytes: statSync(r.weights).size,
    p50_ms: percentile(lat, 50),
    p99_ms: percentile(lat, 99),
    throughput: timing.samples_per_s,
    accuracy: metricValue(test, "accuracy"),
  });

  for (const q of ["none", "fp16", "int8"] as Quantize[]) {
    const dir = join(r.run.run_dir, "export", `onnx-${q === "none" ? "fp32" : q}`);
    if (!existsSync(join(dir, "bundle.json"))) await exportOnnx(r.run.id, { store: opts.store, quantize: q });
    const model = await load(dir, { threads, batchSize: batch });
    try {
      // Accuracy on the whole test split, decoded as the run decodes.
      const logits = await model.logits(texts);
      const m = computeMetrics(model.plan, logits, files.targets.test, readDecoding(dir));
      // Batch-1 latency, tokenization included (what a caller of predict() waits for).
      for (let i = 0; i < Math.min(5, texts.length); i++) await model.logits([texts[i]!]);
      const times: number[] = [];
      for (let i = 0; i < Math.min(samples, texts.length); i++) {
        const t0 = performance.now();
        await model.logits([texts[i]!]);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      const t0 = performance.now();
      await model.logits(texts);
      const throughput = texts.length / ((performance.now() - t0) / 1000);
      rows.push({
        form: `ONNX ${q === "none" ? "fp32" : q}`,
        runtime: "ONNX Runtime (Node)",
        bytes: statSync(join(dir, "model.onnx")).size,
        p50_ms: percentile(times, 50),
        p99_ms: percentile(times, 99),
        throughput,
        accuracy: metricValue(m, "accuracy"),
      });
    } finally {
      await model.close();
    }
  }

  const report = runPaths(r.run.run_dir).report;
  const svg = scatterChart(
    `Deployment trade-off — ${r.run.name ?? r.run.id} (circle area = file size)`,
    "p50 latency at batch 1 (ms)",
    "test accuracy",
    rows.map((x) => ({ label: `${x.form} (${(x.bytes / 2 ** 20).toFixed(0)} MiB)`, x: x.p50_ms, y: x.accuracy, size: x.bytes })),
  );
  writeFileAtomic(join(report, "deploy-tradeoff.svg"), svg);
  writeFileAtomic(join(report, "deploy-tradeoff.png"), svgToPng(svg));
  const result = { run: r.run.id, batch_size: batch, latency_samples: Math.min(samples, texts.length), threads, test_count: texts.length, rows };
  writeJsonAtomic(join(report, "deploy-tradeoff.json"), result);
  return { ...result, plot: join(report, "deploy-tradeoff.png") };
}
