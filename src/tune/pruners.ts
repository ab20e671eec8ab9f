// Pruners: stop a trial early when its intermediate validation metric says it will not win.
// Pure functions of the study's history, so any orchestrator (or worker) decides the same.
//   median     Optuna's MedianPruner: worse than the median of the other trials at this point.
//   asha       asynchronous successive halving (Li et al. 2020): at each rung (min_resource *
//              eta^k epochs) only the best 1/eta of the trials that reached it go on.
//   hyperband  several ASHA brackets with growing minimum budgets; trials spread over them.
import type { TrialView } from "./samplers/types.js";

export type PrunerName = "none" | "median" | "asha" | "hyperband";

export interface PrunerSettings {
  name: PrunerName;
  direction: "maximize" | "minimize";
  /** Epochs before the first decision (median: warm-up; asha: the first rung). */
  minResource: number;
  /** The full budget of a trial, in epochs. */
  maxResource: number;
  reductionFactor: number;
  /** median: finished trials needed before pruning starts. */
  startupTrials: number;
}

const EPS = 1e-9;

/** Best intermediate value up to and including `resource`. */
function bestUpTo(t: TrialView, resource: number, s: PrunerSettings): number | null {
  let best: number | null = null;
  for (const p of t.intermediate) {
    if (p.resource > resource + EPS) continue;
    if (best === null || (s.direction === "maximize" ? p.value > best : p.value < best)) best = p.value;
  }
  return best;
}

/** The value a trial brought to a rung: its first report at or past the rung's budget. */
function valueAtRung(t: TrialView, rung: number): number | null {
  const p = t.intermediate.filter((q) => q.resource >= rung - EPS).sort((a, b) => a.resource - b.resource)[0];
  return p ? p.value : null;
}

/** Number of brackets of a Hyperband over [minResource, maxResource]. */
export function bracketCount(s: PrunerSettings): number {
  return Math.max(1, Math.floor(Math.log(s.maxResource / s.minResource) / Math.log(s.reductionFactor) + EPS) + 1);
}

/** Rungs (in epochs) of an ASHA bracket whose first rung is `first`. */
export function rungs(first: number, s: PrunerSettings): number[] {
  const out: number[] = [];
  for (let r = first; r < s.maxResource - EPS; r *= s.reductionFactor) out.push(r);
  return out;
}

/** Hyperband puts trial n in bracket n mod brackets; bracket b starts at min_resource * eta^b. */
export function bracketOf(n: number, s: PrunerSettings): number {
  return n % bracketCount(s);
}

/**
 * Should `trial` stop now that it has reported at `resource` epochs? `others` are the other
 * trials of the study, with whatever intermediate values they reported so far.
 */
export function shouldPrune(trial: TrialView, others: TrialView[], resource: number, s: PrunerSettings): boolean {
  if (s.name === "none" || resource >= s.maxResource - EPS) return false;
  if (s.name === "median") {
    if (resource < s.minResource - EPS) return false;
    const finished = others.filter((t) => t.state === "complete" || t.state === "pruned");
    if (finished.length < s.startupTrials) return false;
    const mine = bestUpTo(trial, resource, s);
    // Others that got at least this far: their best up to here.
    const theirs = others
      .filter((t) => t.intermediate.some((p) => p.resource >= resource - EPS))
      .map((t) => bestUpTo(t, resource, s))
      .filter((v): v is number => v !== null);
    if (mine === null || theirs.length === 0) return false;
    const sorted = theirs.sort((a, b) => a - b);
    const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
    return s.direction === "maximize" ? mine < median : mine > median;
  }
  // ASHA (hyperband: within the trial's bracket only).
  let first = s.minResource;
  let peers = others;
  if (s.name === "hyperband") {
    const b = bracketOf(trial.number, s);
    first = s.minResource * s.reductionFactor ** b;
    peers = others.filter((t) => bracketOf(t.number, s) === b);
  }
  // The highest rung this report reaches, if it is the trial's first report there.
  const reached = rungs(first, s).filter((r) => resource >= r - EPS);
  if (reached.length === 0) return false;
  const rung = reached.at(-1)!;
  const earlier = trial.intermediate.filter((p) => p.resource < resource - EPS);
  if (earlier.some((p) => p.resource >= rung - EPS)) return false; // decided at this rung already
  const mine = valueAtRung(trial, rung);
  if (mine === null) return false;
  const competing = [mine, ...peers.map((t) => valueAtRung(t, rung)).filter((v): v is number => v !== null)];
  // Promote the best floor(n / eta); the first trials at a rung go on only if they lead it
  // (there is no pausing a trial to wait for rivals, as in Optuna's SuccessiveHalvingPruner).
  const k = Math.max(1, Math.floor(competing.length / s.reductionFactor));
  const sorted = competing.sort((a, b) => (s.direction === "maximize" ? b - a : a - b));
  const threshold = sorted[k - 1]!;
  return s.direction === "maximize" ? mine < threshold : mine > threshold;
}
