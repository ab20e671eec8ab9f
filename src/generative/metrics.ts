// Metrics of generative runs, computed in TypeScript from the engine's per-sequence statistics.

export interface LmMetrics {
  kind: "lm";
  task: "sft" | "dpo" | "reward" | "grpo";
  /** Sequences (sft) or pairs (dpo, reward). */
  count: number;
  /** sft: mean loss per learnt token; dpo: the DPO loss. */
  loss: number;
  perplexity?: number;
  /** Learnt tokens (sft). */
  tokens?: number;
  /** dpo: share of pairs whose chosen answer gains more than the rejected one. */
  reward_accuracy?: number;
  /** dpo: mean of beta * ((policy - reference) chosen - (policy - reference) rejected). */
  reward_margin?: number;
  chosen_reward?: number;
  rejected_reward?: number;
  /** grpo: mean and spread of the rewards of greedy answers. */
  reward?: number;
  reward_std?: number;
  /** grpo, test split: the same prompts answered by the model training started from. */
  start_reward?: number;
  start_exact_match?: number;
  /** Generation-based: generations equal to the reference answer (whitespace-trimmed). */
  exact_match?: number;
  /** Generative classifiers: the label read off the generation is the reference's label. */
  label_accuracy?: number;
  generated?: number;
}

export function sftMetrics(nll: ArrayLike<number>, tokens: ArrayLike<number>): LmMetrics {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < nll.length; i++) {
    sum += nll[i]!;
    n += tokens[i]!;
  }
  const loss = n === 0 ? NaN : sum / n;
  return { kind: "lm", task: "sft", count: nll.length, loss, perplexity: Math.exp(loss), tokens: n };
}

const normalize = (s: string) => s.trim().replace(/\s+/g, " ");

/** The label a generation names: the label it starts with, else the first one it mentions. */
export function labelOf(generation: string, labels: string[]): string | null {
  const g = normalize(generation).toLowerCase();
  const byLength = labels.slice().sort((a, b) => b.length - a.length);
  const start = byLength.find((l) => g.startsWith(l.toLowerCase()));
  if (start) return start;
  let best: { label: string; at: number } | null = null;
  for (const l of byLength) {
    const at = g.indexOf(l.toLowerCase());
    if (at !== -1 && (best === null || at < best.at)) best = { label: l, at };
  }
  return best?.label ?? null;
}

export function generationMetrics(
  references: string[],
  generations: string[],
  labels: string[] | null,
): Pick<LmMetrics, "exact_match" | "label_accuracy" | "generated"> {
  const n = references.length;
  if (n === 0) return {};
  let exact = 0;
  let label = 0;
  references.forEach((r, i) => {
    if (normalize(r) === normalize(generations[i]!)) exact++;
    if (labels && labelOf(generations[i]!, labels) === labelOf(r, labels)) label++;
  });
  return { exact_match: exact / n, ...(labels ? { label_accuracy: label / n } : {}), generated: n };
}

export function lmMetricValue(m: LmMetrics, name: "loss" | "reward_accuracy" | "reward_margin"): number {
  return m[name] ?? NaN;
}
