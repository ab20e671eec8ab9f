// SDK: predictions and evaluation from a finished run.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ResolvedConfig } from "../config/resolve.js";
import { encodeLabels, readResolved } from "../data/dataset.js";
import { argmax, sigmoid, softmax, type Metrics } from "../metrics/classification.js";
import { runPaths } from "../run/artifacts.js";
import { RunStore, storeDir, type RunRecord } from "../store/store.js";
import { computeMetrics } from "../train/evaluate.js";
import { HoneError } from "../util/errors.js";
import { predictTexts } from "./logits.js";

export interface Prediction {
  /** The predicted label (single-label) or labels over the threshold (multi-label). */
  label: string | null;
  labels: string[];
  score: number;
  top: { label: string; score: number }[];
}

interface FinishedRun {
  run: RunRecord;
  cfg: ResolvedConfig;
  labels: string[];
  modelDir: string;
  weights: string;
  threshold: number;
}

export function openFinishedRun(store: RunStore, ref: string): FinishedRun {
  const run = store.findRun(ref);
  const modelDir = runPaths(run.run_dir).model;
  const weights = join(modelDir, "model.safetensors");
  if (!existsSync(weights)) {
    throw new HoneError("usage", `run ${run.id} has no trained model (status: ${run.status})`, [
      { message: "predict and eval need a completed run", hint: run.status === "interrupted" ? `finish it with: hone train --resume ${run.id}` : "train one with: hone train" },
    ]);
  }
  const decoding = JSON.parse(readFileSync(join(modelDir, "decoding.json"), "utf8")) as { threshold: number };
  return { run, cfg: run.config as ResolvedConfig, labels: JSON.parse(readFileSync(join(modelDir, "labels.json"), "utf8")), modelDir, weights, threshold: decoding.threshold };
}

export function decode(logits: ArrayLike<number>, labels: string[], multiLabel: boolean, threshold: number, topK: number): Prediction {
  const probs = multiLabel ? Array.from(logits, sigmoid) : Array.from(softmax(logits));
  const order = probs.map((p, i) => [p, i] as const).sort((a, b) => b[0] - a[0]);
  const top = order.slice(0, topK).map(([p, i]) => ({ label: labels[i]!, score: p }));
  if (multiLabel) {
    const chosen = order.filter(([p]) => p >= threshold).map(([, i]) => labels[i]!);
    return { label: chosen[0] ?? null, labels: chosen, score: order[0]![0], top };
  }
  const best = argmax(probs);
  return { label: labels[best]!, labels: [labels[best]!], score: probs[best]!, top };
}

export async function predict(ref: string, texts: string[], opts: { store?: string; topK?: number } = {}): Promise<Prediction[]> {
  const store = new RunStore(storeDir(opts.store));
  try {
    const r = openFinishedRun(store, ref);
    if (texts.length === 0) return [];
    const { logits } = await predictTexts({ cfg: r.cfg, labels: r.labels, modelDir: r.modelDir, weights: r.weights }, texts);
    return logits.map((row) => decode(row, r.labels, r.cfg.data.multi_label, r.threshold, opts.topK ?? 3));
  } finally {
    store.close();
  }
}

/**
 * Test metrics of a run: the ones computed once at the end of training, or, given a labelled
 * file, metrics on that file (with the run's column mapping unless text/label say otherwise).
 */
export async function evaluate(ref: string, opts: { store?: string; data?: string; text?: string; label?: string } = {}): Promise<{ run: RunRecord; metrics: Metrics; source: string }> {
  const store = new RunStore(storeDir(opts.store));
  try {
    const r = openFinishedRun(store, ref);
    if (!opts.data) {
      const file = join(runPaths(r.run.run_dir).report, "metrics.test.json");
      if (!existsSync(file)) throw new HoneError("usage", `run ${r.run.id} has no test split`, [{ message: "its data had no test file and split.test was 0", hint: "evaluate on a file: hone eval RUN --data test.jsonl" }]);
      return { run: r.run, metrics: JSON.parse(readFileSync(file, "utf8")), source: "test split (evaluated once, after training)" };
    }
    const src = { path: opts.data, format: "auto" as const, pointer: null, text: opts.text ?? r.cfg.data.train.text, label: opts.label ?? r.cfg.data.train.label };
    const examples = readResolved(src, r.cfg.data);
    const unknown = examples.filter((e) => e.labels.some((l) => !r.labels.includes(l)));
    if (unknown.length > 0) {
      throw new HoneError("data", `${unknown.length} example(s) have labels the model does not know`, unknown.slice(0, 10).map((e) => ({ file: e.origin, message: `label(s) ${e.labels.join(", ")}`, hint: `known labels: ${r.labels.slice(0, 8).join(", ")}...` })));
    }
    const { logits } = await predictTexts({ cfg: r.cfg, labels: r.labels, modelDir: r.modelDir, weights: r.weights }, examples.map((e) => e.text));
    return { run: r.run, metrics: computeMetrics(r.cfg, logits, encodeLabels(examples, r.labels), r.labels, r.threshold), source: opts.data };
  } finally {
    store.close();
  }
}
