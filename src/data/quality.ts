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
  /** Labels that look the same but are spelled differently (case, Unicode, invisible characters). */
  labelVariants: LabelVariants[];
  /** Labels holding U+FFFD (text that was not valid in its encoding). */
  replacementLabels: string[];
}

/** A label's spelling with what people cannot see taken out: Unicode normalised (NFC), zero-width
 * characters and surrounding spaces removed, lower case. Labels with the same key look the same. */
export function labelKey(label: string): string {
  return label
    .normalize("NFKC")
    .replace(/[\u200B-\u200D\u2060\uFEFF\u00AD]/g, "")
    .trim()
    .toLowerCase();
}

export interface LabelVariants {
  /** Each spelling with its count over all splits, the most frequent first. */
  variants: { label: string; count: number }[];
}

/** Labels that differ only by case, Unicode normalisation, zero-width characters or spaces; and
 * labels holding U+FFFD, the mark of text that was not valid in its encoding. */
export function labelVariants(examples: Example[]): { groups: LabelVariants[]; replacement: string[] } {
  const counts = new Map<string, number>();
  for (const e of examples) for (const l of e.labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  const byKey = new Map<string, { label: string; count: number }[]>();
  for (const [label, count] of counts) {
    const k = labelKey(label);
    byKey.set(k, [...(byKey.get(k) ?? []), { label, count }]);
  }
  const groups = [...byKey.values()]
    .filter((g) => g.length > 1)
    .map((g) => ({ variants: g.sort((a, b) => b.count - a.count || (a.label < b.label ? -1 : 1)) }));
  return { groups, replacement: [...counts.keys()].filter((l) => l.includes("\uFFFD")) };
}

/** How a variant reads in a message: visible quotes, invisible characters spelled out. */
export function showLabel(label: string): string {
  return JSON.stringify(label).replace(/[\u200B-\u200D\u2060\uFEFF\u00AD]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** The warnings a person must see about label spellings (at the start of training and in `hone data inspect`). */
export function labelVariantWarnings(q: Pick<QualityReport, "labelVariants" | "replacementLabels">): string[] {
  const w = q.labelVariants.map(
    (g) =>
      `labels that look the same are spelled differently: ${g.variants.map((v) => `${showLabel(v.label)} (${v.count})`).join(", ")}; they are different classes unless data.merge_label_variants: true`,
  );
  if (q.replacementLabels.length > 0)
    w.push(`label(s) with U+FFFD, the mark of text that was not valid in its encoding: ${q.replacementLabels.slice(0, 5).map(showLabel).join(", ")}`);
  return w;
}

export function qualityReport(splits: Record<string, Example[]>): QualityReport {
  const variants = labelVariants(Object.values(splits).flat());
  const report: QualityReport = {
    duplicates: [],
    conflicts: [],
    leakage: [],
    labelCounts: {},
    unseenLabels: [],
    labelVariants: variants.groups,
    replacementLabels: variants.replacement,
  };
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
