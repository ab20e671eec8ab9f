// The official SQuAD scores (evaluate-v1.1.py / evaluate-v2.0.py): answers normalised (lower
// case, punctuation and the articles a/an/the removed, spaces collapsed), exact match and token
// F1 against each gold answer, the best one counted. An unanswerable question (v2.0) is right only
// when the prediction is empty.
const PUNCTUATION = new Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");

export function normalizeAnswer(s: string): string {
  const lower = s.toLowerCase();
  const noPunct = Array.from(lower)
    .filter((c) => !PUNCTUATION.has(c))
    .join("");
  const noArticles = noPunct.replace(/\b(a|an|the)\b/g, " ");
  return noArticles.split(/\s+/).filter(Boolean).join(" ");
}

export function exactMatch(prediction: string, gold: string): number {
  return normalizeAnswer(prediction) === normalizeAnswer(gold) ? 1 : 0;
}

export function tokenF1(prediction: string, gold: string): number {
  const p = normalizeAnswer(prediction).split(" ").filter(Boolean);
  const g = normalizeAnswer(gold).split(" ").filter(Boolean);
  // v2.0: an empty answer on either side scores 1 only when both are empty.
  if (p.length === 0 || g.length === 0) return p.length === g.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const t of g) counts.set(t, (counts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of p) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      same++;
      counts.set(t, c - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / p.length;
  const recall = same / g.length;
  return (2 * precision * recall) / (precision + recall);
}

export interface QaMetrics {
  kind: "qa";
  count: number;
  /** Official SQuAD exact match and F1, as fractions (the scripts print them x100). */
  exact_match: number;
  f1: number;
  /** SQuAD 2.0: the same over answerable and unanswerable questions apart. */
  has_answer: { count: number; exact_match: number; f1: number } | null;
  no_answer: { count: number; exact_match: number; f1: number } | null;
  loss: number | null;
}

/** Scores of predictions (the empty string = "no answer") against each question's gold answers. */
export function qaMetrics(gold: string[][], predictions: string[], loss: number | null = null): QaMetrics {
  const em: number[] = [];
  const f1: number[] = [];
  gold.forEach((answers, i) => {
    const golds = answers.length === 0 ? [""] : answers;
    em.push(Math.max(...golds.map((g) => exactMatch(predictions[i]!, g))));
    f1.push(Math.max(...golds.map((g) => tokenF1(predictions[i]!, g))));
  });
  const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
  const part = (keep: (i: number) => boolean) => {
    const idx = gold.map((_, i) => i).filter(keep);
    return idx.length === 0 ? null : { count: idx.length, exact_match: mean(idx.map((i) => em[i]!)), f1: mean(idx.map((i) => f1[i]!)) };
  };
  const unanswerable = gold.some((a) => a.length === 0);
  return {
    kind: "qa",
    count: gold.length,
    exact_match: mean(em),
    f1: mean(f1),
    has_answer: unanswerable ? part((i) => gold[i]!.length > 0) : null,
    no_answer: unanswerable ? part((i) => gold[i]!.length === 0) : null,
    loss,
  };
}

export function qaScalars(m: QaMetrics): Record<string, number> {
  const out: Record<string, number> = { exact_match: m.exact_match, f1: m.f1 };
  if (m.has_answer) out.has_answer_f1 = m.has_answer.f1;
  if (m.no_answer) out.no_answer_f1 = m.no_answer.f1;
  if (m.loss !== null) out.loss = m.loss;
  return out;
}
