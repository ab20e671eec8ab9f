// The data doctor's checks: duplicates, conflicting labels, leakage between splits, label counts.
import type { Example } from "./load.js";

/** Texts that differ only in case and spacing count as the same text. */
export function normalizeText(text: string): string {
  return text.toLowerCase().replace(/\s+/g, " ").trim();
}

export interface QualityReport {
  duplicates: { split: string; count: number; examples: string[][] }[];
  conflicts: { text: string; labels: string[][]; origins: string[] }[];
  leakage: { from: string; to: string; count: number; examples: string[] }[];
  labelCounts: Record<string, Record<string, number>>;
  /** Labels seen in validation/test but never in train. */
  unseenLabels: { split: string; label: string; origin: string }[];
}

export function qualityReport(splits: Record<string, Example[]>): QualityReport {
  const report: QualityReport = { duplicates: [], conflicts: [], leakage: [], labelCounts: {}, unseenLabels: [] };
  const index: Record<string, Map<string, Example[]>> = {};
  for (const [name, examples] of Object.entries(splits)) {
    const map = new Map<string, Example[]>();
    const counts: Record<string, number> = {};
    for (const ex of examples) {
      const key = normalizeText(ex.text);
      const list = map.get(key);
      if (list) list.push(ex);
      else map.set(key, [ex]);
      for (const l of ex.labels) counts[l] = (counts[l] ?? 0) + 1;
    }
    index[name] = map;
    report.labelCounts[name] = counts;
    const dups = [...map.values()].filter((l) => l.length > 1);
    if (dups.length > 0) {
      report.duplicates.push({ split: name, count: dups.reduce((s, l) => s + l.length - 1, 0), examples: dups.slice(0, 5).map((l) => l.map((e) => e.origin)) });
    }
    for (const list of dups) {
      const labelSets = [...new Set(list.map((e) => e.labels.slice().sort().join("|")))];
      if (labelSets.length > 1) {
        report.conflicts.push({ text: list[0]!.text, labels: labelSets.map((s) => s.split("|")), origins: list.map((e) => e.origin) });
      }
    }
  }
  const train = index.train;
  if (train) {
    for (const other of Object.keys(splits).filter((s) => s !== "train")) {
      const hits = [...index[other]!.entries()].filter(([k]) => train.has(k));
      if (hits.length > 0) {
        report.leakage.push({ from: "train", to: other, count: hits.length, examples: hits.slice(0, 5).map(([, l]) => l[0]!.origin) });
      }
      const known = report.labelCounts.train!;
      for (const ex of splits[other]!) {
        for (const l of ex.labels) if (!(l in known)) report.unseenLabels.push({ split: other, label: l, origin: ex.origin });
      }
    }
  }
  return report;
}
