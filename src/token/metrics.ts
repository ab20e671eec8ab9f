// Scores of token tasks. Entities: exact span and type must match (conlleval / seqeval's
// definition): precision = right / predicted, recall = right / true, micro over all entities,
// per type, and the macro mean over types. Tags: word-level accuracy in the run's scheme.
// Joint intent + slot data adds intent accuracy and the sentence exact match (intent right and
// every entity right, nothing extra).
import type { Entity } from "./tags.js";

export interface TypeScores {
  type: string;
  precision: number;
  recall: number;
  f1: number;
  /** True entities of this type. */
  support: number;
  predicted: number;
}

export interface TokenMetrics {
  kind: "token";
  count: number;
  precision: number;
  recall: number;
  f1: number;
  macro_f1: number;
  /** Words whose predicted tag equals the true tag. */
  tag_accuracy: number;
  per_type: TypeScores[];
  intent_accuracy: number | null;
  exact_match: number | null;
  loss: number | null;
}

export interface Truth {
  entities: Entity[];
  tags: string[];
  intent: string | null;
}

export interface Guess {
  entities: Entity[];
  tags: string[];
  intent: string | null;
}

const key = (e: Entity) => `${e.start}:${e.end}:${e.type}`;
const f1 = (p: number, r: number) => (p + r === 0 ? 0 : (2 * p * r) / (p + r));

export function tokenMetrics(truth: Truth[], guess: Guess[], loss: number | null = null): TokenMetrics {
  const perType = new Map<string, { right: number; trueN: number; predN: number }>();
  const slot = (t: string) => {
    let s = perType.get(t);
    if (!s) perType.set(t, (s = { right: 0, trueN: 0, predN: 0 }));
    return s;
  };
  let words = 0;
  let wordsRight = 0;
  let intentsRight = 0;
  let exact = 0;
  truth.forEach((t, i) => {
    const g = guess[i]!;
    const trueKeys = new Set(t.entities.map(key));
    let right = 0;
    for (const e of t.entities) slot(e.type).trueN++;
    for (const e of g.entities) {
      slot(e.type).predN++;
      if (trueKeys.has(key(e))) {
        slot(e.type).right++;
        right++;
      }
    }
    t.tags.forEach((tag, k) => {
      words++;
      if (g.tags[k] === tag) wordsRight++;
    });
    const intentRight = t.intent === null || g.intent === t.intent;
    if (intentRight && t.intent !== null) intentsRight++;
    if (intentRight && right === t.entities.length && right === g.entities.length) exact++;
  });
  const all = { right: 0, trueN: 0, predN: 0 };
  const per_type: TypeScores[] = [...perType.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([type, s]) => {
      all.right += s.right;
      all.trueN += s.trueN;
      all.predN += s.predN;
      const precision = s.predN === 0 ? 0 : s.right / s.predN;
      const recall = s.trueN === 0 ? 0 : s.right / s.trueN;
      return { type, precision, recall, f1: f1(precision, recall), support: s.trueN, predicted: s.predN };
    });
  const precision = all.predN === 0 ? 0 : all.right / all.predN;
  const recall = all.trueN === 0 ? 0 : all.right / all.trueN;
  const scored = per_type.filter((t) => t.support > 0);
  const joint = truth.length > 0 && truth[0]!.intent !== null;
  return {
    kind: "token",
    count: truth.length,
    precision,
    recall,
    f1: f1(precision, recall),
    macro_f1: scored.length === 0 ? 0 : scored.reduce((s, t) => s + t.f1, 0) / scored.length,
    tag_accuracy: words === 0 ? 0 : wordsRight / words,
    per_type,
    intent_accuracy: joint ? intentsRight / truth.length : null,
    exact_match: truth.length === 0 ? null : exact / truth.length,
    loss,
  };
}

/** The scalars stored as series and offered to selection and search. */
export function tokenScalars(m: TokenMetrics): Record<string, number> {
  const out: Record<string, number> = { f1: m.f1, precision: m.precision, recall: m.recall, macro_f1: m.macro_f1, tag_accuracy: m.tag_accuracy };
  if (m.intent_accuracy !== null) out.intent_accuracy = m.intent_accuracy;
  if (m.exact_match !== null) out.exact_match = m.exact_match;
  if (m.loss !== null) out.loss = m.loss;
  return out;
}
