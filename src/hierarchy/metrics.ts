// Metrics of path predictions against true paths.
//   per level      accuracy, micro/macro F1 over that depth's nodes, coverage under thresholds
//   exact path     the whole predicted path equals the true one
//   all nodes      every node of every level is a binary label; a prediction "has" the nodes
//                  on its path. Micro- and Macro-F1 over them is the protocol of the
//                  hierarchical text classification papers (HiAGM, HGCLR); macro averages the
//                  nodes present in truth or predictions.
//   hierarchical   Kiritchenko et al.: precision/recall over ancestor-augmented sets. With one
//                  path per example (ours), hF equals the all-nodes micro-F1; both are reported.
import type { PathDecision } from "./decode.js";
import type { Tree } from "./tree.js";

export interface NodeScores {
  /** The node's full path. */
  label: string;
  name: string;
  /** Index of the parent in per_node (tree order), -1 at the top level. */
  parent: number;
  depth: number;
  precision: number;
  recall: number;
  f1: number;
  support: number;
  predicted: number;
}

export interface LevelScores {
  depth: number;
  /** Right decisions at this depth over all examples (an undecided level counts as wrong). */
  accuracy: number;
  micro_f1: number;
  macro_f1: number;
  /** Share of examples decided at this depth (paths that end above it count as decided). */
  coverage: number;
  /** Accuracy among the decided ones. */
  covered_accuracy: number;
}

export interface HierarchyMetrics {
  kind: "hierarchical";
  count: number;
  /** Exact-path accuracy. */
  accuracy: number;
  micro_f1: number;
  macro_f1: number;
  weighted_f1: number;
  hierarchical_precision: number;
  hierarchical_recall: number;
  hierarchical_f1: number;
  /** Share of decoded predictions that are valid paths of the tree (1 by construction: checked). */
  consistency: number;
  /** Share where the heads' independent argmax already formed a valid path. */
  raw_consistency: number;
  /** Share of predictions cut short by a threshold, and exact-path accuracy of the others. */
  partial_rate: number;
  full_path_accuracy: number;
  /** Mean -log P(true path). */
  loss: number;
  levels: LevelScores[];
  per_node: NodeScores[];
  thresholds: number[] | null;
}

const safeDiv = (a: number, b: number) => (b === 0 ? 0 : a / b);
const f1 = (p: number, r: number) => safeDiv(2 * p * r, p + r);

export function isValidPath(tree: Tree, path: number[]): boolean {
  return path.every((n, i) => n >= 0 && n < tree.nodes.length && tree.node(n).parent === (i === 0 ? -1 : path[i - 1]) && tree.node(n).depth === i + 1);
}

/** (Long: one pass over the examples fills every count; the metrics follow from the counts.) */
export function hierarchyMetrics(
  tree: Tree,
  decisions: PathDecision[],
  truth: number[],
  opts: { trueProb?: number[]; rawConsistent?: boolean[]; thresholds?: number[] | null } = {},
): HierarchyMetrics {
  const N = tree.nodes.length;
  const tp = new Array<number>(N).fill(0);
  const fp = new Array<number>(N).fill(0);
  const fn = new Array<number>(N).fill(0);
  const D = tree.maxDepth;
  const lv = Array.from({ length: D }, () => ({ right: 0, decided: 0 }));
  let exact = 0;
  let inter = 0;
  let predSize = 0;
  let trueSize = 0;
  let valid = 0;
  let partial = 0;
  let fullRight = 0;
  decisions.forEach((dec, i) => {
    const line = tree.lineage(truth[i]!);
    const pred = new Set(dec.path);
    const gold = new Set(line);
    for (const n of pred) (gold.has(n) ? tp : fp)[n]!++;
    for (const n of gold) if (!pred.has(n)) fn[n]!++;
    const common = [...pred].filter((n) => gold.has(n)).length;
    inter += common;
    predSize += pred.size;
    trueSize += gold.size;
    const same = dec.path.length === line.length && common === line.length;
    if (same) exact++;
    if (isValidPath(tree, dec.path)) valid++;
    if (dec.partial) partial++;
    else if (same) fullRight++;
    for (let d = 1; d <= D; d++) {
      // Depth d is decided when the path reaches it, or ends above it without being cut short.
      const decided = dec.path.length >= d || !dec.partial;
      if (!decided) continue;
      lv[d - 1]!.decided++;
      if ((dec.path[d - 1] ?? -1) === (line[d - 1] ?? -1)) lv[d - 1]!.right++;
    }
  });
  const count = decisions.length;
  const per_node: NodeScores[] = tree.nodes.map((n) => {
    const precision = safeDiv(tp[n.id]!, tp[n.id]! + fp[n.id]!);
    const recall = safeDiv(tp[n.id]!, tp[n.id]! + fn[n.id]!);
    return {
      label: n.key,
      name: n.name,
      parent: n.parent,
      depth: n.depth,
      precision,
      recall,
      f1: f1(precision, recall),
      support: tp[n.id]! + fn[n.id]!,
      predicted: tp[n.id]! + fp[n.id]!,
    };
  });
  const avg = (ids: number[]) => {
    const present = ids.filter((id) => per_node[id]!.support > 0 || per_node[id]!.predicted > 0);
    const sTp = ids.reduce((s, id) => s + tp[id]!, 0);
    const sFp = ids.reduce((s, id) => s + fp[id]!, 0);
    const sFn = ids.reduce((s, id) => s + fn[id]!, 0);
    const support = ids.reduce((s, id) => s + per_node[id]!.support, 0);
    return {
      micro: f1(safeDiv(sTp, sTp + sFp), safeDiv(sTp, sTp + sFn)),
      macro: safeDiv(
        present.reduce((s, id) => s + per_node[id]!.f1, 0),
        present.length,
      ),
      weighted: safeDiv(
        ids.reduce((s, id) => s + per_node[id]!.f1 * per_node[id]!.support, 0),
        support,
      ),
    };
  };
  const all = avg(tree.nodes.map((n) => n.id));
  const levels: LevelScores[] = lv.map((l, k) => {
    const a = avg(tree.atDepth(k + 1));
    return {
      depth: k + 1,
      accuracy: safeDiv(l.right, count),
      micro_f1: a.micro,
      macro_f1: a.macro,
      coverage: safeDiv(l.decided, count),
      covered_accuracy: safeDiv(l.right, l.decided),
    };
  });
  const hP = safeDiv(inter, predSize);
  const hR = safeDiv(inter, trueSize);
  return {
    kind: "hierarchical",
    count,
    accuracy: safeDiv(exact, count),
    micro_f1: all.micro,
    macro_f1: all.macro,
    weighted_f1: all.weighted,
    hierarchical_precision: hP,
    hierarchical_recall: hR,
    hierarchical_f1: f1(hP, hR),
    consistency: safeDiv(valid, count),
    raw_consistency: opts.rawConsistent ? safeDiv(opts.rawConsistent.filter(Boolean).length, count) : 1,
    partial_rate: safeDiv(partial, count),
    full_path_accuracy: safeDiv(fullRight, count - partial),
    loss: opts.trueProb
      ? safeDiv(
          opts.trueProb.reduce((s, p) => s - Math.log(Math.max(p, 1e-12)), 0),
          count,
        )
      : 0,
    levels,
    per_node,
    thresholds: opts.thresholds ?? null,
  };
}
