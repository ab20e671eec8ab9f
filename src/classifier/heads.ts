// The heads of a run, decided once from the resolved config and the training labels, and
// saved with the model (model/heads.json): a plain classifier is one head; a hierarchy is the
// heads of its strategy; every extra task (multi-task) adds a head. One mechanism for all.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ResolvedConfig, ResolvedHierarchy } from "../config/resolve.js";
import type { Example } from "../data/load.js";
import type { Coupling, HeadSpec } from "../protocol/schema.js";
import { layout, targets, type Layout } from "../hierarchy/strategies.js";
import { Tree } from "../hierarchy/tree.js";

export interface HeadDef {
  name: string;
  labels: string[];
  multi_label: boolean;
  loss_weight: number;
  /** One decision per token (entity tags), or a start/end pair over tokens (answers), instead of
   * one per text; absent = per text. */
  level?: "sequence" | "token" | "span";
}

export interface TaskHead {
  /** The task's name in the config (data.tasks). */
  task: string;
  head: string;
}

/** What model/heads.json holds. */
export interface HeadsFile {
  version: 1;
  task: "classify" | "hierarchical" | "token_classify" | "extractive_qa";
  heads: HeadDef[];
  /** The main label's classes: labels (classify) or terminal paths (hierarchical). */
  labels: string[];
  hierarchy: Omit<ResolvedHierarchy, "taxonomy" | "levels" | "target_precision"> | null;
  tasks: TaskHead[];
}

/** The heads file plus what follows from it (tree and layout), ready for encoding and decoding. */
export interface HeadPlan extends HeadsFile {
  tree: Tree | null;
  layout: Layout | null;
}

export function planHeads(cfg: ResolvedConfig, mainLabels: string[], taskLabels: Record<string, string[]>): HeadPlan {
  const h = cfg.hierarchy ?? null; // present for hierarchies only
  const file: HeadsFile = {
    version: 1,
    task: cfg.task as "classify" | "hierarchical", // generative tasks have no heads (src/generative/)
    heads: [],
    labels: mainLabels,
    hierarchy: h && {
      strategy: h.strategy,
      separator: h.separator,
      decode: h.decode,
      consistency_loss: h.consistency_loss,
      level_weights: h.level_weights ?? null,
      thresholds: h.thresholds,
    },
    tasks: (cfg.data.tasks ?? []).map((t) => ({ task: t.name, head: `task_${t.name}` })),
  };
  const plan = withTree(file);
  file.labels = plan.tree ? plan.tree.terminals.map((t) => plan.tree!.node(t).key) : mainLabels;
  file.heads = plan.layout
    ? plan.layout.heads.map((x) => ({
        name: x.name,
        labels: x.labels,
        multi_label: false,
        loss_weight: (x.level > 0 ? h!.level_weights?.[x.level - 1] : undefined) ?? 1,
      }))
    : [{ name: "label", labels: mainLabels, multi_label: cfg.data.multi_label, loss_weight: 1 }];
  for (const t of cfg.data.tasks ?? [])
    file.heads.push({ name: `task_${t.name}`, labels: taskLabels[t.name]!, multi_label: t.multi_label, loss_weight: t.loss_weight });
  return { ...file, tree: plan.tree, layout: plan.layout };
}

function withTree(file: HeadsFile): HeadPlan {
  if (!file.hierarchy) return { ...file, tree: null, layout: null };
  const tree = new Tree(
    file.labels.map((l) => l.split(file.hierarchy!.separator)),
    file.hierarchy.separator,
  );
  return { ...file, tree, layout: layout(tree, file.hierarchy.strategy) };
}

/** `multiLabel`: whether the main head of a run made before heads.json was multi-label. */
export function loadHeads(modelDir: string, multiLabel: boolean): HeadPlan {
  const path = join(modelDir, "heads.json");
  if (existsSync(path)) return withTree(JSON.parse(readFileSync(path, "utf8")) as HeadsFile);
  // Runs made before heads.json: one head over labels.json.
  const labels: string[] = JSON.parse(readFileSync(join(modelDir, "labels.json"), "utf8"));
  return {
    version: 1,
    task: "classify",
    heads: [{ name: "label", labels, multi_label: multiLabel, loss_weight: 1 }],
    labels,
    hierarchy: null,
    tasks: [],
    tree: null,
    layout: null,
  };
}

export function headsFile(plan: HeadPlan): HeadsFile {
  const { tree: _t, layout: _l, ...file } = plan;
  return file;
}

export function headSpecs(plan: Pick<HeadsFile, "heads">, labelSmoothing: number, weights: ClassWeights | null = null): HeadSpec[] {
  return plan.heads.map((h) => ({
    name: h.name,
    num_labels: h.labels.length,
    multi_label: h.multi_label,
    level: h.level ?? "sequence",
    label_smoothing: labelSmoothing,
    loss_weight: h.loss_weight,
    class_weights: (!h.multi_label && weights?.[h.name]?.classes) || null,
    label_weights: (h.multi_label && weights?.[h.name]?.labels) || null,
  }));
}

/** Per head: its loss weights (train.class_weight: balanced). */
export type ClassWeights = Record<string, { classes?: number[]; labels?: { positive: number[]; negative: number[] } }>;

/**
 * scikit-learn's "balanced" weights from the training targets of each head (shardHeads): a class
 * weighs n / (classes x its count), n the examples the head has a target for (a hierarchy level's
 * -1 is none) and classes those that occur; a multi-label head's label weighs its positives
 * n / (2 x positives) and its negatives n / (2 x negatives). A class or side with no example
 * weighs 1 (it adds no loss anyway). The mean weight over the training targets is 1, so the
 * loss keeps its scale and the learning rate its meaning.
 */
export function balancedWeights(heads: { name: string; numLabels: number; multiLabel: boolean; targets: number[][] }[]): ClassWeights {
  const out: ClassWeights = {};
  for (const h of heads) {
    const counts = new Array<number>(h.numLabels).fill(0);
    let n = 0;
    for (const t of h.targets) {
      if (!h.multiLabel && (t[0] ?? -1) < 0) continue;
      n++;
      for (const k of t) if (k >= 0) counts[k]!++;
    }
    if (h.multiLabel) {
      out[h.name] = {
        labels: {
          positive: counts.map((c) => (c > 0 && c < n ? n / (2 * c) : 1)),
          negative: counts.map((c) => (c > 0 && c < n ? n / (2 * (n - c)) : 1)),
        },
      };
    } else {
      const present = counts.filter((c) => c > 0).length;
      out[h.name] = { classes: counts.map((c) => (c > 0 ? n / (present * c) : 1)) };
    }
  }
  return out;
}

export function couplings(plan: HeadPlan): Coupling[] {
  const w = plan.hierarchy?.consistency_loss ?? 0;
  if (!plan.layout || w === 0) return [];
  return plan.layout.couplings.map((c) => ({ ...c, weight: w }));
}

/** Targets of the main label: class indices (classify) or the terminal's index (hierarchical). */
export function mainTargets(plan: HeadsFile, examples: Example[]): number[][] {
  const index = new Map(plan.labels.map((l, i) => [l, i]));
  return examples.map((e) => e.labels.map((l) => index.get(l)!));
}

export function taskTargets(plan: HeadsFile, examples: Example[]): Record<string, number[][]> {
  const out: Record<string, number[][]> = {};
  for (const t of plan.tasks) {
    const index = new Map(plan.heads.find((h) => h.name === t.head)!.labels.map((l, i) => [l, i]));
    out[t.task] = examples.map((e) => (e.tasks?.[t.task] ?? []).map((l) => index.get(l)!));
  }
  return out;
}

/** Per-head targets for the engine's shards. */
export function shardHeads(plan: HeadPlan, examples: Example[]) {
  const main = mainTargets(plan, examples);
  const out: { name: string; numLabels: number; multiLabel: boolean; targets: number[][] }[] = [];
  if (plan.layout) {
    const perExample = main.map((t) => targets(plan.layout!, t[0]!));
    plan.layout.heads.forEach((h, k) => out.push({ name: h.name, numLabels: h.labels.length, multiLabel: false, targets: perExample.map((t) => [t[k]!]) }));
  } else {
    out.push({ name: "label", numLabels: plan.labels.length, multiLabel: plan.heads[0]!.multi_label, targets: main });
  }
  const tasks = taskTargets(plan, examples);
  for (const t of plan.tasks) {
    const head = plan.heads.find((h) => h.name === t.head)!;
    out.push({ name: head.name, numLabels: head.labels.length, multiLabel: head.multi_label, targets: tasks[t.task]! });
  }
  return out;
}
