// From a distribution over terminal paths to a decision: a consistent path, cut short at the
// first level whose confidence is under that level's threshold (a partial path).
import type { Tree } from "./tree.js";

export type Decode = "best_path" | "top_down";

export interface PathDecision {
  /** Node ids from the top level down; shorter than `full` when partial. */
  path: number[];
  /** The complete consistent path the model prefers. */
  full: number[];
  /** P(the true path passes through path[i]) for each node of `full`. */
  scores: number[];
  /** The model stopped above a terminal because it was unsure. */
  partial: boolean;
}

/** P(the true path passes through each node): the terminal probabilities summed up the tree. */
export function marginals(tree: Tree, terminalProbs: ArrayLike<number>): Float64Array {
  const m = new Float64Array(tree.nodes.length);
  tree.terminals.forEach((t, i) => {
    for (let n = t; n !== -1; n = tree.node(n).parent) m[n]! += terminalProbs[i]!;
  });
  return m;
}

/**
 * best_path: the most probable terminal path (ties go to the first in tree order).
 * top_down: from the top, the child with the highest marginal, stopping at a terminal node
 * when ending there is more probable than any child (a decision per level, as people route).
 * thresholds[d-1] is the least marginal accepted at depth d; null accepts everything.
 */
export function decodePath(tree: Tree, terminalProbs: ArrayLike<number>, decode: Decode, thresholds: number[] | null): PathDecision {
  const m = marginals(tree, terminalProbs);
  const terminals = tree.terminals;
  let full: number[];
  if (decode === "best_path") {
    let best = 0;
    for (let i = 1; i < terminals.length; i++) if (terminalProbs[i]! > terminalProbs[best]!) best = i;
    full = tree.lineage(terminals[best]!);
  } else {
    const stopProb = new Map(terminals.map((t, i) => [t, terminalProbs[i]!]));
    full = [];
    let at = -1;
    for (;;) {
      const kids = tree.children(at);
      if (kids.length === 0) break;
      let best = kids[0]!;
      for (const k of kids) if (m[k]! > m[best]!) best = k;
      if (at !== -1 && tree.node(at).terminal && stopProb.get(at)! >= m[best]!) break;
      full.push(best);
      at = best;
    }
  }
  const scores = full.map((n) => m[n]!);
  let cut = full.length;
  if (thresholds) {
    const firstUnsure = scores.findIndex((s, i) => s < (thresholds[i] ?? 0));
    if (firstUnsure !== -1) cut = firstUnsure;
  }
  return { path: full.slice(0, cut), full, scores, partial: cut < full.length };
}

/**
 * Per-level thresholds for a target precision, tuned on validation one level at a time:
 * at depth d, among examples still decided at d-1, the least threshold whose accepted
 * decisions are right (the path down to d) at least `target` of the time. A level where no
 * threshold reaches the target gets 1 (decide only at certainty).
 */
export function tuneThresholds(tree: Tree, decisions: PathDecision[], truth: number[], target: number): number[] {
  const out: number[] = [];
  let active = decisions.map((_, i) => i);
  for (let d = 1; d <= tree.maxDepth; d++) {
    const atLevel = active.filter((i) => decisions[i]!.full.length >= d);
    const items = atLevel
      .map((i) => ({ i, score: decisions[i]!.scores[d - 1]!, right: prefixRight(tree, decisions[i]!.full, truth[i]!, d) }))
      .sort((a, b) => b.score - a.score);
    // Walk from the most confident down; the threshold is the lowest score at which the
    // running precision still meets the target.
    let right = 0;
    let threshold = 1;
    items.forEach((it, k) => {
      right += it.right ? 1 : 0;
      const next = items[k + 1];
      if (right / (k + 1) >= target && (!next || next.score < it.score)) threshold = it.score;
    });
    out.push(threshold);
    active = atLevel.filter((i) => decisions[i]!.scores[d - 1]! >= threshold).concat(active.filter((i) => decisions[i]!.full.length < d));
  }
  return out;
}

function prefixRight(tree: Tree, full: number[], truth: number, depth: number): boolean {
  const line = tree.lineage(truth);
  for (let k = 0; k < depth; k++) if (line[k] !== full[k]) return false;
  return true;
}
