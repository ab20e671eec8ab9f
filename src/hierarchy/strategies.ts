// How a label tree becomes classification heads on one shared encoder, and how the heads'
// outputs become one probability distribution over the tree's terminal paths again.
//
// Every strategy is described the same way: each terminal path is a list of (head, class)
// pairs, its score is the sum of those classes' log-softmax values, and the scores are
// normalised over all terminals. Decoding (decode.ts) then only sees that distribution,
// so every strategy's predictions are consistent paths by construction.
//   flat       one head over the terminals: P(path) is the head's softmax.
//   per_level  one head per depth over the nodes at that depth (plus "∅" where a path may end
//              above it); P(path) ∝ product of the levels' probabilities (best consistent path).
//   local      one head per parent node over its children (plus "∅" = stop at this node);
//              P(path) = product of conditionals along the path (top-down routing).
import type { Tree } from "./tree.js";

export const STRATEGIES = ["flat", "per_level", "local"] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** Class of a head that means "the path ends above this level / at this node". */
export const STOP_LABEL = "∅";

export interface TreeHead {
  name: string;
  /** The level this head decides (1 = top); 0 for the flat head, which decides all of them. */
  level: number;
  /** Class labels: node keys, or STOP_LABEL. */
  labels: string[];
}

/** Ties a parent level to its child level for the hierarchy-aware loss: both distributions are
 * summed into shared groups (one per parent-level class that has children, one for "ends here"). */
export interface Coupling {
  parent: string;
  child: string;
  parent_groups: number[];
  child_groups: number[];
}

export interface Layout {
  strategy: Strategy;
  heads: TreeHead[];
  /** Per terminal (tree.terminals order): the (head index, class index) pairs that score it. */
  codes: [number, number][][];
  couplings: Coupling[];
}

export function layout(tree: Tree, strategy: Strategy): Layout {
  const terminals = tree.terminals;
  const heads: TreeHead[] = [];
  const codes: [number, number][][] = terminals.map(() => []);
  const couplings: Coupling[] = [];

  if (strategy === "flat") {
    heads.push({ name: "label", level: 0, labels: terminals.map((t) => tree.node(t).key) });
    terminals.forEach((_, i) => codes[i]!.push([0, i]));
  } else if (strategy === "per_level") {
    for (let d = 1; d <= tree.maxDepth; d++) {
      const nodes = tree.atDepth(d);
      // A path that ends above depth d is "∅" here.
      const needsStop = terminals.some((t) => tree.node(t).depth < d);
      heads.push({ name: `level_${d}`, level: d, labels: [...nodes.map((n) => tree.node(n).key), ...(needsStop ? [STOP_LABEL] : [])] });
      const index = new Map(nodes.map((n, i) => [n, i]));
      terminals.forEach((t, i) => {
        const line = tree.lineage(t);
        codes[i]!.push([d - 1, d <= line.length ? index.get(line[d - 1]!)! : nodes.length]);
      });
    }
    for (let d = 2; d <= tree.maxDepth; d++) {
      const parentHead = heads[d - 2]!;
      const childHead = heads[d - 1]!;
      const parents = tree.atDepth(d - 1);
      // Group 0: "ends at or above depth d-1" (terminal parents and the parent level's ∅);
      // group g+1: parent node g (the mass of its children at depth d must equal its own).
      const groupOfNode = new Map(parents.map((n, g) => [n, g + 1]));
      const parent_groups = parentHead.labels.map((_, c) =>
        c < parents.length && tree.node(parents[c]!).children.length > 0 ? groupOfNode.get(parents[c]!)! : 0,
      );
      const children = tree.atDepth(d);
      const child_groups = childHead.labels.map((_, c) => (c < children.length ? groupOfNode.get(tree.node(children[c]!).parent)! : 0));
      couplings.push({ parent: parentHead.name, child: childHead.name, parent_groups, child_groups });
    }
  } else {
    const headOf = new Map<number, number>();
    for (const p of tree.parents) {
      const kids = tree.children(p);
      const stop = p !== -1 && tree.node(p).terminal;
      headOf.set(p, heads.length);
      heads.push({
        name: p === -1 ? "node_root" : `node_${p}`,
        level: p === -1 ? 1 : tree.node(p).depth + 1,
        labels: [...kids.map((k) => tree.node(k).key), ...(stop ? [STOP_LABEL] : [])],
      });
    }
    terminals.forEach((t, i) => {
      const line = tree.lineage(t);
      let parent = -1;
      for (const n of line) {
        codes[i]!.push([headOf.get(parent)!, tree.children(parent).indexOf(n)]);
        parent = n;
      }
      if (tree.node(t).children.length > 0) codes[i]!.push([headOf.get(t)!, tree.children(t).length]); // stop here
    });
  }
  return { strategy, heads, codes, couplings };
}

/** Targets per head for an example whose true path ends at terminal index `ti`; -1 = no target
 * (the head is not on this example's path: local strategy). */
export function targets(l: Layout, ti: number): number[] {
  const out = l.heads.map(() => -1);
  for (const [h, c] of l.codes[ti]!) out[h] = c;
  return out;
}

export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - lse);
}

/** P(terminal) for one example from its per-head logits (layout order). */
export function terminalProbabilities(l: Layout, logits: ArrayLike<number>[]): Float64Array {
  const logp = logits.map(logSoftmax);
  const scores = l.codes.map((pairs) => pairs.reduce((s, [h, c]) => s + logp[h]![c]!, 0));
  const max = Math.max(...scores);
  const p = Float64Array.from(scores, (s) => Math.exp(s - max));
  const sum = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / sum);
}

/**
 * Whether the heads' independent argmax decisions already form a valid path (before
 * consistent decoding). Flat and local are consistent by construction; per_level is not.
 */
export function rawConsistent(l: Layout, logits: ArrayLike<number>[]): boolean {
  if (l.strategy !== "per_level") return true;
  const choice = logits.map((row) => {
    let best = 0;
    for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
    return best;
  });
  return l.codes.some((pairs) => pairs.every(([h, c]) => choice[h] === c));
}
