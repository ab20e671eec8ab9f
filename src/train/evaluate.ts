// Metrics of a run's logits, with the run's own decoding (softmax, or sigmoid + tuned threshold).
import type { ResolvedConfig } from "../config/resolve.js";
import { multiLabelMetrics, singleLabelMetrics, tuneThreshold, type Metrics } from "../metrics/classification.js";

export function computeMetrics(cfg: ResolvedConfig, logits: ArrayLike<number>[], targets: number[][], labels: string[], threshold: number): Metrics {
  return cfg.data.multi_label
    ? multiLabelMetrics(logits, targets, labels, threshold)
    : singleLabelMetrics(logits, targets.map((t) => t[0]!), labels);
}

/** Multi-label decision threshold, tuned on validation logits; 0.5 without validation data. */
export function decisionThreshold(cfg: ResolvedConfig, valLogits: ArrayLike<number>[] | null, valTargets: number[][], labels: string[]): number {
  if (!cfg.data.multi_label || !valLogits || valLogits.length === 0) return 0.5;
  return tuneThreshold(valLogits, valTargets, labels);
}

/** The scalar metrics worth a time series (per-class tables stay in the report files). */
export function scalarMetrics(m: Metrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) if (typeof v === "number" && k !== "count") out[k] = v;
  return out;
}
