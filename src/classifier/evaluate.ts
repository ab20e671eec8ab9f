// Metrics of a run's logits with the run's own decoding: softmax, sigmoid + tuned threshold,
// or a hierarchy's consistent path (+ per-level thresholds); extra tasks get their own metrics.
import { multiLabelMetrics, singleLabelMetrics, tuneThreshold, type Metrics } from "../metrics/classification.js";
import { decodePath, tuneThresholds, type PathDecision } from "../hierarchy/decode.js";
import { hierarchyMetrics, type HierarchyMetrics } from "../hierarchy/metrics.js";
import { rawConsistent, terminalProbabilities } from "../hierarchy/strategies.js";
import { readLogits } from "../tokenize/shards.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { HeadPlan } from "./heads.js";

export type MainMetrics = Metrics | HierarchyMetrics;

import type { LmMetrics } from "../generative/metrics.js";

export type RunMetrics = MainMetrics & {
  /** Hierarchies with thresholds: the same predictions cut to partial paths where unsure. */
  with_thresholds?: HierarchyMetrics;
  /** Extra tasks (multi-task heads), by task name. */
  tasks?: Record<string, Metrics>;
};

export interface Targets {
  main: number[][];
  tasks: Record<string, number[][]>;
}

/** Decision settings tuned on validation and saved with the model (model/decoding.json). */
export interface Decoding {
  /** Multi-label threshold of the main head. */
  threshold: number;
  task_thresholds: Record<string, number>;
  /** Per-level confidence thresholds of a hierarchy, or null (always a full path). */
  hierarchy_thresholds: number[] | null;
}

export type HeadLogits = Record<string, Float32Array[]>;

/** A model folder's decoding.json (runs made before tasks and hierarchies lack those keys). */
export function readDecoding(dir: string): Decoding {
  const d = JSON.parse(readFileSync(join(dir, "decoding.json"), "utf8")) as Partial<Decoding> & { threshold: number };
  return { threshold: d.threshold, task_thresholds: d.task_thresholds ?? {}, hierarchy_thresholds: d.hierarchy_thresholds ?? null };
}

/** `tokens`: the shard's token count, the rows of token-level heads. */
export function readHeadLogits(plan: Pick<HeadPlan, "heads">, files: Record<string, string>, count: number, tokens = count): HeadLogits {
  return Object.fromEntries(
    plan.heads.map((h) => [h.name, readLogits(files[h.name]!, h.level === "token" || h.level === "span" ? tokens : count, h.labels.length)]),
  );
}

/** Hierarchy: the consistent path decision and P(true path) of every example. */
export function decideHierarchy(plan: HeadPlan, logits: HeadLogits, thresholds: number[] | null) {
  const l = plan.layout!;
  const count = logits[l.heads[0]!.name]!.length;
  const decisions: PathDecision[] = [];
  const probs: Float64Array[] = [];
  const raw: boolean[] = [];
  for (let i = 0; i < count; i++) {
    const rows = l.heads.map((h) => logits[h.name]![i]!);
    const p = terminalProbabilities(l, rows);
    probs.push(p);
    raw.push(rawConsistent(l, rows));
    decisions.push(decodePath(plan.tree!, p, plan.hierarchy!.decode, thresholds));
  }
  return { decisions, probs, raw };
}

function mainMetrics(plan: HeadPlan, logits: HeadLogits, targets: number[][], decoding: Decoding): RunMetrics {
  if (!plan.tree) {
    const head = plan.heads[0]!;
    const rows = logits[head.name]!;
    return head.multi_label
      ? multiLabelMetrics(rows, targets, plan.labels, decoding.threshold)
      : singleLabelMetrics(
          rows,
          targets.map((t) => t[0]!),
          plan.labels,
        );
  }
  const tree = plan.tree;
  const truthTerminal = targets.map((t) => t[0]!);
  const truthNode = truthTerminal.map((t) => tree.terminals[t]!);
  const { decisions, probs, raw } = decideHierarchy(plan, logits, null);
  const full = hierarchyMetrics(tree, decisions, truthNode, { trueProb: probs.map((p, i) => p[truthTerminal[i]!]!), rawConsistent: raw });
  const th = decoding.hierarchy_thresholds;
  if (!th) return full;
  const cut = decideHierarchy(plan, logits, th).decisions;
  return { ...full, with_thresholds: hierarchyMetrics(tree, cut, truthNode, { thresholds: th }) };
}

export function computeMetrics(plan: HeadPlan, logits: HeadLogits, targets: Targets, decoding: Decoding): RunMetrics {
  const m = mainMetrics(plan, logits, targets.main, decoding);
  if (plan.tasks.length === 0) return m;
  const tasks: Record<string, Metrics> = {};
  for (const t of plan.tasks) {
    const head = plan.heads.find((h) => h.name === t.head)!;
    const y = targets.tasks[t.task]!;
    tasks[t.task] = head.multi_label
      ? multiLabelMetrics(logits[head.name]!, y, head.labels, decoding.task_thresholds[t.task] ?? 0.5)
      : singleLabelMetrics(
          logits[head.name]!,
          y.map((v) => v[0]!),
          head.labels,
        );
  }
  return { ...m, tasks };
}

/** Thresholds tuned on validation logits (multi-label heads; a hierarchy's target precision). */
export function tuneDecoding(plan: HeadPlan, target_precision: number | null, val: { logits: HeadLogits; targets: Targets } | null): Decoding {
  const out: Decoding = { threshold: 0.5, task_thresholds: {}, hierarchy_thresholds: plan.hierarchy?.thresholds ?? null };
  if (!val || val.targets.main.length === 0) return out;
  const main = plan.heads[0]!;
  if (!plan.tree && main.multi_label) out.threshold = tuneThreshold(val.logits[main.name]!, val.targets.main, plan.labels);
  for (const t of plan.tasks) {
    const head = plan.heads.find((h) => h.name === t.head)!;
    if (head.multi_label) out.task_thresholds[t.task] = tuneThreshold(val.logits[head.name]!, val.targets.tasks[t.task]!, head.labels);
  }
  if (plan.tree && target_precision !== null) {
    const { decisions } = decideHierarchy(plan, val.logits, null);
    out.hierarchy_thresholds = tuneThresholds(
      plan.tree,
      decisions,
      val.targets.main.map((t) => plan.tree!.terminals[t[0]!]!),
      target_precision,
    );
  }
  return out;
}

/** The scalar metrics worth a time series (per-class tables stay in the report files);
 * extra tasks' as "<task>.<metric>". */
export function scalarMetrics(m: RunMetrics | LmMetrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) if (typeof v === "number" && k !== "count") out[k] = v;
  if (m.kind === "lm") return out;
  if (m.kind === "hierarchical") for (const l of m.levels) out[`level_${l.depth}.accuracy`] = l.accuracy;
  for (const [task, tm] of Object.entries(m.tasks ?? {}))
    for (const [k, v] of Object.entries(tm)) if (typeof v === "number" && k !== "count") out[`${task}.${k}`] = v;
  return out;
}
