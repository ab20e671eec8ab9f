// SDK: predictions and evaluation from a finished run.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ResolvedConfig } from "../config/resolve.js";
import { storedConfig } from "../config/resolved.js";
import { readResolved } from "../data/dataset.js";
import { argmax, sigmoid, softmax } from "../metrics/classification.js";
import { runPaths } from "../run/artifacts.js";
import type { RunStore, RunRecord } from "../store/store.js";
import type { EvaluateOptions } from "../run/types.js";
import { computeMetrics, decideHierarchy, readDecoding, type Decoding, type HeadLogits, type RunMetrics } from "../classifier/evaluate.js";
import { loadHeads, mainTargets, taskTargets, type HeadPlan } from "../classifier/heads.js";
import { HoneError } from "../util/errors.js";
import { predictTexts } from "./logits.js";
import type { LabelPrediction, Prediction } from "./types.js";

export type { LabelPrediction, Prediction } from "./types.js";

interface FinishedRun {
  run: RunRecord;
  cfg: ResolvedConfig;
  plan: HeadPlan;
  modelDir: string;
  weights: string;
  decoding: Decoding;
}

export function openFinishedRun(store: RunStore, ref: string): FinishedRun {
  const run = store.findRun(ref);
  const modelDir = runPaths(run.run_dir).model;
  const weights = join(modelDir, "model.safetensors");
  if (!existsSync(weights)) {
    throw new HoneError("usage", `run ${run.id} has no trained model (status: ${run.status})`, [
      {
        message: "predict and eval need a completed run",
        hint: run.status === "interrupted" ? `finish it with: hone train --resume ${run.id}` : "train one with: hone train",
      },
    ]);
  }
  const cfg = storedConfig(run.id, run.config);
  if (!existsSync(join(modelDir, "decoding.json")) && existsSync(join(modelDir, "heads.json")))
    throw new HoneError("usage", `run ${run.id} (task ${run.task}) is not a classifier`, [
      {
        message: "this command reads a classifier's labels and tuned decoding",
        hint: `hone predict / eval / export work with every encoder task: hone predict ${run.id}`,
      },
    ]);
  return { run, cfg, plan: loadHeads(modelDir, cfg.data.multi_label), modelDir, weights, decoding: readDecoding(modelDir) };
}

export function decode(logits: ArrayLike<number>, labels: string[], multiLabel: boolean, threshold: number, topK: number): LabelPrediction {
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

/** Every example's prediction from its heads' logits, decoded as the run decides. */
export function decodeAll(plan: HeadPlan, logits: HeadLogits, decoding: Decoding, topK: number): Prediction[] {
  const main = plan.heads[0]!;
  const count = logits[main.name]!.length;
  let out: Prediction[];
  if (plan.tree) {
    const tree = plan.tree;
    const { decisions, probs } = decideHierarchy(plan, logits, decoding.hierarchy_thresholds);
    out = decisions.map((d, i) => {
      const last = d.path.at(-1);
      const label = last === undefined ? null : tree.node(last).key;
      const order = Array.from(probs[i]!, (p, t) => [p, t] as const).sort((a, b) => b[0] - a[0]);
      return {
        label,
        labels: label === null ? [] : [label],
        score: last === undefined ? 0 : d.scores[d.path.length - 1]!,
        top: order.slice(0, topK).map(([p, t]) => ({ label: plan.labels[t]!, score: p })),
        path: d.path.map((n) => tree.node(n).name),
        levels: d.path.map((n, k) => ({ depth: k + 1, label: tree.node(n).key, score: d.scores[k]! })),
        partial: d.partial,
        full_path: tree.node(d.full.at(-1)!).key,
      };
    });
  } else {
    out = logits[main.name]!.map((row) => decode(row, plan.labels, main.multi_label, decoding.threshold, topK));
  }
  for (const t of plan.tasks) {
    const head = plan.heads.find((h) => h.name === t.head)!;
    for (let i = 0; i < count; i++) {
      (out[i]!.tasks ??= {})[t.task] = decode(logits[head.name]![i]!, head.labels, head.multi_label, decoding.task_thresholds[t.task] ?? 0.5, topK);
    }
  }
  return out;
}

/** A classifier run's predictions for texts (the classifier tasks' `predict`). */
export async function predictClassifier(store: RunStore, run: RunRecord, texts: string[], opts: { topK?: number } = {}): Promise<Prediction[]> {
  const r = openFinishedRun(store, run.id);
  if (texts.length === 0) return [];
  const { logits } = await predictTexts({ cfg: r.cfg, plan: r.plan, modelDir: r.modelDir, weights: r.weights }, texts);
  return decodeAll(r.plan, logits, r.decoding, opts.topK ?? 3);
}

/**
 * Test metrics of a classifier run: the ones computed once at the end of training, or, given a
 * labelled file, metrics on that file (with the run's column mapping unless text/label say otherwise).
 */
export async function evaluateClassifier(store: RunStore, run: RunRecord, opts: EvaluateOptions): Promise<{ metrics: RunMetrics; source: string }> {
  const r = openFinishedRun(store, run.id);
  if (!opts.data) {
    const file = join(runPaths(r.run.run_dir).report, "metrics.test.json");
    if (!existsSync(file))
      throw new HoneError("usage", `run ${r.run.id} has no test split`, [
        { message: "its data had no test file and split.test was 0", hint: "evaluate on a file: hone eval RUN --data test.jsonl" },
      ]);
    return { metrics: JSON.parse(readFileSync(file, "utf8")), source: "test split (evaluated once, after training)" };
  }
  // The columns the run read (a zero-shot run without training data: its test file's).
  const read = r.cfg.data.train ?? r.cfg.data.test ?? r.cfg.data.validation;
  const src = {
    path: opts.data,
    format: "auto" as const,
    pointer: null,
    text: opts.text ?? read?.text ?? "text",
    label: opts.label ?? read?.label ?? "label",
  };
  const examples = readResolved(src, r.cfg);
  const known = new Set(r.plan.labels);
  const unknown = examples.filter((e) => e.labels.some((l) => !known.has(l)));
  if (unknown.length > 0) {
    throw new HoneError(
      "data",
      `${unknown.length} example(s) have labels the model does not know`,
      unknown
        .slice(0, 10)
        .map((e) => ({ file: e.origin, message: `label(s) ${e.labels.join(", ")}`, hint: `known labels: ${r.plan.labels.slice(0, 8).join(", ")}...` })),
    );
  }
  const { logits } = await predictTexts(
    { cfg: r.cfg, plan: r.plan, modelDir: r.modelDir, weights: r.weights },
    examples.map((e) => e.text),
  );
  const targets = { main: mainTargets(r.plan, examples), tasks: taskTargets(r.plan, examples) };
  return { metrics: computeMetrics(r.plan, logits, targets, r.decoding), source: opts.data };
}
