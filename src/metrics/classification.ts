// Classification metrics from logits. The engine only produces logits; every metric,
// threshold and selection decision is computed here, once.

export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

export interface ClassScores {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface SingleLabelMetrics {
  kind: "single_label";
  count: number;
  accuracy: number;
  macro_f1: number;
  micro_f1: number;
  weighted_f1: number;
  macro_precision: number;
  macro_recall: number;
  /** Expected calibration error of the top-label confidence (15 equal-width bins). */
  ece: number;
  loss: number;
  per_class: ClassScores[];
  /** confusion[true][predicted] */
  confusion: number[][];
  labels: string[];
}

export interface MultiLabelMetrics {
  kind: "multi_label";
  count: number;
  micro_f1: number;
  macro_f1: number;
  weighted_f1: number;
  /** Share of examples whose predicted label set equals the true set exactly. */
  subset_accuracy: number;
  hamming_loss: number;
  threshold: number;
  loss: number;
  per_class: ClassScores[];
  labels: string[];
}

export type Metrics = SingleLabelMetrics | MultiLabelMetrics;

const safeDiv = (a: number, b: number) => (b === 0 ? 0 : a / b);
const f1 = (p: number, r: number) => safeDiv(2 * p * r, p + r);

function perClass(tp: number[], fp: number[], fn: number[], labels: string[]): ClassScores[] {
  return labels.map((label, c) => {
    const precision = safeDiv(tp[c]!, tp[c]! + fp[c]!);
    const recall = safeDiv(tp[c]!, tp[c]! + fn[c]!);
    return { label, precision, recall, f1: f1(precision, recall), support: tp[c]! + fn[c]! };
  });
}

/** Macro averages run over classes that occur in the truth or the predictions (as scikit-learn does over present labels). */
function averages(scores: ClassScores[], tp: number[], fp: number[], fn: number[]) {
  const present = scores.filter((s, c) => s.support > 0 || fp[c]! > 0);
  const total = scores.reduce((s, c) => s + c.support, 0);
  const sumTp = tp.reduce((a, b) => a + b, 0);
  const sumFp = fp.reduce((a, b) => a + b, 0);
  const sumFn = fn.reduce((a, b) => a + b, 0);
  const microP = safeDiv(sumTp, sumTp + sumFp);
  const microR = safeDiv(sumTp, sumTp + sumFn);
  return {
    macro_f1: safeDiv(
      present.reduce((s, c) => s + c.f1, 0),
      present.length,
    ),
    macro_precision: safeDiv(
      present.reduce((s, c) => s + c.precision, 0),
      present.length,
    ),
    macro_recall: safeDiv(
      present.reduce((s, c) => s + c.recall, 0),
      present.length,
    ),
    micro_f1: f1(microP, microR),
    weighted_f1: safeDiv(
      scores.reduce((s, c) => s + c.f1 * c.support, 0),
      total,
    ),
  };
}

export function expectedCalibrationError(confidence: number[], correct: boolean[], bins = 15): number {
  const count = new Array(bins).fill(0);
  const conf = new Array(bins).fill(0);
  const acc = new Array(bins).fill(0);
  confidence.forEach((p, i) => {
    const b = Math.min(bins - 1, Math.floor(p * bins));
    count[b]++;
    conf[b] += p;
    acc[b] += correct[i] ? 1 : 0;
  });
  let ece = 0;
  for (let b = 0; b < bins; b++) if (count[b] > 0) ece += (count[b] / confidence.length) * Math.abs(acc[b] / count[b] - conf[b] / count[b]);
  return ece;
}

export function singleLabelMetrics(logits: ArrayLike<number>[], truth: number[], labels: string[]): SingleLabelMetrics {
  const L = labels.length;
  const confusion = Array.from({ length: L }, () => new Array<number>(L).fill(0));
  const tp = new Array(L).fill(0);
  const fp = new Array(L).fill(0);
  const fn = new Array(L).fill(0);
  const confidence: number[] = [];
  const correct: boolean[] = [];
  let loss = 0;
  logits.forEach((row, i) => {
    const p = softmax(row);
    const pred = argmax(p);
    const y = truth[i]!;
    confusion[y]![pred]!++;
    if (pred === y) tp[y]++;
    else {
      fp[pred]++;
      fn[y]++;
    }
    confidence.push(p[pred]!);
    correct.push(pred === y);
    loss -= Math.log(Math.max(p[y]!, 1e-12));
  });
  const per_class = perClass(tp, fp, fn, labels);
  return {
    kind: "single_label",
    count: logits.length,
    accuracy: safeDiv(correct.filter(Boolean).length, logits.length),
    ...averages(per_class, tp, fp, fn),
    ece: expectedCalibrationError(confidence, correct),
    loss: safeDiv(loss, logits.length),
    per_class,
    confusion,
    labels,
  };
}

export function multiLabelMetrics(logits: ArrayLike<number>[], truth: number[][], labels: string[], threshold: number): MultiLabelMetrics {
  const L = labels.length;
  const tp = new Array(L).fill(0);
  const fp = new Array(L).fill(0);
  const fn = new Array(L).fill(0);
  let exact = 0;
  let wrongBits = 0;
  let loss = 0;
  logits.forEach((row, i) => {
    const gold = new Set(truth[i]);
    let allRight = true;
    for (let c = 0; c < L; c++) {
      const p = sigmoid(row[c]!);
      const pred = p >= threshold;
      const is = gold.has(c);
      loss -= (is ? Math.log(Math.max(p, 1e-12)) : Math.log(Math.max(1 - p, 1e-12))) / L;
      if (pred && is) tp[c]++;
      else if (pred) fp[c]++;
      else if (is) fn[c]++;
      if (pred !== is) {
        allRight = false;
        wrongBits++;
      }
    }
    if (allRight) exact++;
  });
  const per_class = perClass(tp, fp, fn, labels);
  const avg = averages(per_class, tp, fp, fn);
  return {
    kind: "multi_label",
    count: logits.length,
    micro_f1: avg.micro_f1,
    macro_f1: avg.macro_f1,
    weighted_f1: avg.weighted_f1,
    subset_accuracy: safeDiv(exact, logits.length),
    hamming_loss: safeDiv(wrongBits, logits.length * L),
    threshold,
    loss: safeDiv(loss, logits.length),
    per_class,
    labels,
  };
}

/** The decision threshold that maximises micro-F1 on validation (grid 0.05..0.95, ties go to 0.5's side). */
export function tuneThreshold(logits: ArrayLike<number>[], truth: number[][], labels: string[]): number {
  let best = 0.5;
  let bestF1 = -1;
  for (let t = 0.05; t < 0.951; t += 0.05) {
    const th = Math.round(t * 100) / 100;
    const score = multiLabelMetrics(logits, truth, labels, th).micro_f1;
    if (score > bestF1 + 1e-12 || (Math.abs(score - bestF1) <= 1e-12 && Math.abs(th - 0.5) < Math.abs(best - 0.5))) {
      best = th;
      bestF1 = score;
    }
  }
  return best;
}

export type SelectMetric = "accuracy" | "macro_f1" | "micro_f1" | "weighted_f1" | "loss";

/** Any metrics with the selectable fields (a hierarchy's `accuracy` is exact-path accuracy). */
type Selectable = Metrics | { kind: "hierarchical"; accuracy: number; macro_f1: number; micro_f1: number; weighted_f1: number; loss: number };

export function metricValue(m: Selectable, name: SelectMetric): number {
  if (name === "accuracy") return m.kind === "multi_label" ? m.subset_accuracy : m.accuracy;
  return m[name];
}

/** Loss is minimised, every other metric maximised. */
export function isBetter(name: SelectMetric, value: number, best: number | null, minDelta = 0): boolean {
  if (best === null) return true;
  return name === "loss" ? value < best - minDelta : value > best + minDelta;
}
