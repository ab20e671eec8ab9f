// The preference task's losses and metrics (task: dpo, dpo.loss dpo | orpo | simpo | kto), from
// the per-sequence statistics the engine writes: the same formulas as engine/hone_engine/lm/preference.py,
// which trains with them. KTO's data: unpaired good / bad answers, or pairs split into both.
import type { ResolvedLm } from "../config/resolved.js";
import type { LmExample, LmFormat, Turns } from "./data.js";
import type { LmMetrics } from "./metrics.js";

export type PreferenceSettings = ResolvedLm["dpo"];

/** Losses that compare with the starting model (its log-probabilities are computed first). */
export const needsReference = (p: PreferenceSettings): boolean => p.loss === "dpo" || p.loss === "kto";

/** What the losses read besides the statistics: KTO's labels (one per example), and whether the
 * examples came as pairs (then reward accuracy compares each pair's two answers). */
export interface PreferenceData {
  labels: ArrayLike<number> | null;
  format: LmFormat;
}

const logSigmoid = (x: number) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));
const sigmoid = (x: number) => Math.exp(logSigmoid(x));
/** log(p / (1 - p)) for log p = m <= 0. */
const logOdds = (m: number) => {
  const x = Math.min(m, -1e-7);
  return x - Math.log(-Math.expm1(x));
};

/** Metrics of a preference run: its loss, and its implicit rewards (dpo, kto: beta x (policy -
 * reference); simpo, orpo: beta x per-token mean log-probability, as TRL reports them). */
export function preferenceMetrics(
  p: PreferenceSettings,
  policy: ArrayLike<number>,
  reference: ArrayLike<number>,
  tokens: ArrayLike<number>,
  data: PreferenceData,
): LmMetrics {
  const { beta } = p;
  const examples = Math.floor(policy.length / 2);
  const mean = (i: number) => policy[i]! / Math.max(1, tokens[i]!);
  const reward = (i: number) => (p.loss === "dpo" || p.loss === "kto" ? beta * (policy[i]! - reference[i]!) : beta * mean(i));
  let loss = 0;
  let wins = 0;
  let chosen = 0;
  let rejected = 0;
  let nChosen = 0;
  let nRejected = 0;
  if (p.loss === "kto") {
    const labels = data.labels!;
    let z = 0;
    for (let i = 0; i < examples; i++) z += policy[2 * i + 1]! - reference[2 * i + 1]!;
    z = Math.max(0, z / Math.max(1, examples));
    for (let i = 0; i < examples; i++) {
      const ratio = policy[2 * i]! - reference[2 * i]!;
      const r = reward(2 * i);
      if (labels[i]) {
        loss += p.desirable_weight * (1 - sigmoid(beta * (ratio - z)));
        chosen += r;
        nChosen++;
      } else {
        loss += p.undesirable_weight * (1 - sigmoid(beta * (z - ratio)));
        rejected += r;
        nRejected++;
      }
    }
    // Pairs split into good and bad (examples 2k, 2k+1): does the good answer gain more? Unpaired:
    // does each answer fall on its side of the reference point?
    const paired = data.format === "preference";
    const judged = paired ? Math.floor(examples / 2) : examples;
    for (let k = 0; k < judged; k++) {
      if (paired) wins += reward(4 * k) > reward(4 * k + 2) ? 1 : 0;
      else wins += labels[k] ? (reward(2 * k) > beta * z ? 1 : 0) : reward(2 * k) < beta * z ? 1 : 0;
    }
    const d = Math.max(1, examples);
    const c = nChosen > 0 ? chosen / nChosen : NaN;
    const r = nRejected > 0 ? rejected / nRejected : NaN;
    return {
      kind: "lm",
      task: "dpo",
      count: examples,
      loss: loss / d,
      reward_accuracy: wins / Math.max(1, judged),
      reward_margin: c - r,
      chosen_reward: c,
      rejected_reward: r,
    };
  }
  let margin = 0;
  for (let i = 0; i < examples; i++) {
    const c = 2 * i;
    const r = c + 1;
    if (p.loss === "dpo") loss -= logSigmoid(reward(c) - reward(r));
    else if (p.loss === "simpo") loss -= logSigmoid(beta * (mean(c) - mean(r)) - p.gamma_beta_ratio * beta);
    else loss += -mean(c) - beta * logSigmoid(logOdds(mean(c)) - logOdds(mean(r)));
    wins += reward(c) > reward(r) ? 1 : 0;
    margin += reward(c) - reward(r);
    chosen += reward(c);
    rejected += reward(r);
  }
  const d = Math.max(1, examples);
  return {
    kind: "lm",
    task: "dpo",
    count: examples,
    loss: loss / d,
    reward_accuracy: wins / d,
    reward_margin: margin / d,
    chosen_reward: chosen / d,
    rejected_reward: rejected / d,
  };
}

const sameTurns = (a: Turns, b: Turns) => JSON.stringify(a) === JSON.stringify(b);

/** KTO's examples: unpaired ones as they are, pairs split into a good and a bad answer (2k, 2k+1).
 * Each gets a partner: the answer of the next example (cyclically) with another prompt, so that the
 * prompt with that answer estimates KTO's reference point (TRL shifts answers within a batch). */
export function ktoExamples(examples: LmExample[]): LmExample[] {
  const single = examples.flatMap((e): Extract<LmExample, { format: "unpaired" }>[] => {
    if (e.format === "unpaired") return [e];
    if (e.format !== "preference") return [];
    return [
      { format: "unpaired", prompt: e.prompt, completion: e.chosen, label: true, partner: null, origin: e.origin },
      { format: "unpaired", prompt: e.prompt, completion: e.rejected, label: false, partner: null, origin: e.origin },
    ];
  });
  return single.map((e, i) => {
    for (let k = 1; k < single.length; k++) {
      const other = single[(i + k) % single.length]!;
      if (!sameTurns(other.prompt, e.prompt) && typeof other.completion === typeof e.completion) return { ...e, partner: other.completion };
    }
    return { ...e, partner: e.completion };
  });
}

/** KTO's labels of encoded examples, one byte each (1 = desirable). */
export function ktoLabels(examples: LmExample[]): Uint8Array {
  return Uint8Array.from(examples, (e) => (e.format === "unpaired" && e.label ? 1 : 0));
}

/** A pairwise reward model: sequences 2i (chosen) and 2i+1 (rejected) scored on their own;
 * loss -log sigmoid(r_c - r_r), accuracy = share of pairs with r_c > r_r. */
export function rewardMetrics(rewards: ArrayLike<number>): LmMetrics {
  // DPO's formula with the rewards as policy log-probabilities, no reference and beta 1.
  const dpo = { loss: "dpo", beta: 1, gamma_beta_ratio: 0, desirable_weight: 1, undesirable_weight: 1 } as const;
  const zeros = new Float64Array(rewards.length);
  const m = preferenceMetrics(dpo, rewards, zeros, zeros, { labels: null, format: "preference" });
  return { ...m, task: "reward" };
}
