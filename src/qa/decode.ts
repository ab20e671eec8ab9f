// Answers from start/end logits: in each window the n best starts and n best ends over context
// tokens, every valid pair (end not before start, at most max_answer tokens) scored by the sum of
// its logits; the best pair over all windows of a question is its answer, a substring of the
// context. SQuAD 2.0: "no answer" scores the first token's start + end (the least over windows);
// it wins when it beats the best span by more than the threshold tuned on validation.
import { codePoints } from "./formats.js";
import type { QaWindow } from "./windows.js";

export interface QaDecoding {
  n_best: number;
  max_answer_tokens: number;
  /** null: always answer (SQuAD 1.1); else the margin "no answer" must win by. */
  null_threshold: number | null;
}

/** `hone predict` of a question: the answer, a substring of the context ("" = no answer). */
export interface QaPrediction {
  answer: string;
  /** Code points [start, end) in the context; null for "no answer". */
  start: number | null;
  end: number | null;
  score: number;
}

export interface QaAnswerOut {
  text: string;
  /** Code points [start, end) in the context; null for "no answer". */
  start: number | null;
  end: number | null;
  /** The span's start + end logits, and the "no answer" score. */
  score: number;
  null_score: number;
}

function topIndices(row: (t: number) => number, candidates: number[], n: number): number[] {
  return [...candidates].sort((a, b) => row(b) - row(a)).slice(0, n);
}

/** Per question: its best span and its null score. `logits(w)` is window w's [tokens × 2] rows. */
export function decodeAnswers(
  examples: { context: string }[],
  windows: Pick<QaWindow, "example" | "offsets">[],
  logits: (w: number) => Float32Array,
  d: QaDecoding,
): QaAnswerOut[] {
  const best: { score: number; start: number; end: number }[] = examples.map(() => ({ score: -Infinity, start: -1, end: -1 }));
  const nulls = examples.map(() => Infinity);
  windows.forEach((w, k) => {
    const L = logits(k);
    const s = (t: number) => L[2 * t]!;
    const e = (t: number) => L[2 * t + 1]!;
    nulls[w.example] = Math.min(nulls[w.example]!, s(0) + e(0));
    const context = w.offsets.flatMap((o, t) => (o ? [t] : []));
    const starts = topIndices(s, context, d.n_best);
    const ends = topIndices(e, context, d.n_best);
    for (const a of starts)
      for (const b of ends) {
        if (b < a || b - a + 1 > d.max_answer_tokens) continue;
        const score = s(a) + e(b);
        const cur = best[w.example]!;
        if (score > cur.score) best[w.example] = { score, start: w.offsets[a]![0], end: w.offsets[b]![1] };
      }
  });
  return examples.map((ex, i) => {
    const b = best[i]!;
    const nullScore = nulls[i]!;
    const none = b.start < 0 || (d.null_threshold !== null && nullScore - b.score > d.null_threshold);
    if (none) return { text: "", start: null, end: null, score: b.score, null_score: nullScore };
    return { text: codePoints(ex.context).slice(b.start, b.end).join(""), start: b.start, end: b.end, score: b.score, null_score: nullScore };
  });
}

/** SQuAD 2.0: the null threshold with the best mean F1 on validation. A question is answered
 * when its margin (null score - span score) is at most the threshold; `answered[i]` / `none[i]`:
 * its F1 either way. One sweep over the sorted margins. */
export function tuneNullThreshold(answers: QaAnswerOut[], answered: number[], none: number[]): number {
  const order = answers
    .map((a, i) => ({ m: a.null_score - a.score, i }))
    .filter((x) => Number.isFinite(x.m))
    .sort((a, b) => a.m - b.m);
  let total = none.reduce((s, v) => s + v, 0); // threshold below every margin: nothing answered
  let bestTotal = total;
  let bestT = order.length > 0 ? order[0]!.m - 1 : 0;
  order.forEach(({ m, i }, k) => {
    total += answered[i]! - none[i]!;
    const next = order[k + 1]?.m;
    if (next !== undefined && next === m) return; // ties move together
    if (total > bestTotal) {
      bestTotal = total;
      bestT = next === undefined ? m + 1 : (m + next) / 2;
    }
  });
  return bestT;
}
