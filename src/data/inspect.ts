// `hone data inspect`: the data doctor. Sizes, labels, duplicates, leakage, token lengths.
import type { ResolvedConfig } from "../config/resolve.js";
import { loadTokenizer } from "../tokenize/tokenizer.js";
import { loadDataset, type Dataset } from "./dataset.js";

export interface LengthStats {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  /** Share of examples longer than max_length (they will be truncated). */
  truncated: number;
}

export interface InspectReport {
  splits: Record<string, { count: number; origin: string }>;
  labels: { label: string; train: number; validation: number; test: number }[];
  imbalance: number;
  multi_label: boolean;
  tokens: Record<string, LengthStats> | null;
  max_length: number;
  quality: Dataset["quality"];
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx]!;
}

export function lengthStats(lengths: number[], maxLength: number): LengthStats {
  const s = lengths.slice().sort((a, b) => a - b);
  return {
    p50: percentile(s, 0.5),
    p90: percentile(s, 0.9),
    p95: percentile(s, 0.95),
    p99: percentile(s, 0.99),
    max: s.at(-1) ?? 0,
    mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length),
    truncated: s.filter((l) => l > maxLength).length / Math.max(1, s.length),
  };
}

export async function inspectData(cfg: ResolvedConfig, withTokens = true): Promise<InspectReport> {
  const ds = loadDataset(cfg);
  const counts = ds.quality.labelCounts;
  const labels = ds.labels.map((label) => ({
    label,
    train: counts.train?.[label] ?? 0,
    validation: counts.validation?.[label] ?? 0,
    test: counts.test?.[label] ?? 0,
  }));
  const trainCounts = labels.map((l) => l.train);
  let tokens: InspectReport["tokens"] = null;
  if (withTokens) {
    const tok = loadTokenizer(cfg.model.dir, cfg.data.max_length);
    tokens = {};
    for (const split of ["train", "validation", "test"] as const) {
      if (ds[split].length > 0) tokens[split] = lengthStats(await tok.fullLengths(ds[split].map((e) => e.text)), cfg.data.max_length);
    }
  }
  return {
    splits: {
      train: { count: ds.train.length, origin: "file" },
      validation: { count: ds.validation.length, origin: ds.origin.validation },
      test: { count: ds.test.length, origin: ds.origin.test },
    },
    labels,
    imbalance: Math.max(...trainCounts) / Math.max(1, Math.min(...trainCounts)),
    multi_label: cfg.data.multi_label,
    tokens,
    max_length: cfg.data.max_length,
    quality: ds.quality,
  };
}
