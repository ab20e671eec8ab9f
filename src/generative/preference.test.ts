import { test } from "node:test";
import assert from "node:assert/strict";
import type { LmExample } from "./data.js";
import { ktoExamples, ktoLabels, preferenceMetrics, type PreferenceSettings } from "./preference.js";

const settings = (loss: PreferenceSettings["loss"], beta: number): PreferenceSettings => ({
  loss,
  beta,
  gamma_beta_ratio: 0.5,
  desirable_weight: 1,
  undesirable_weight: 1,
});
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);
const sig = (x: number) => 1 / (1 + Math.exp(-x));

// One pair: chosen (-4 over 2 tokens), rejected (-9 over 3); reference -5 and -6.
const policy = [-4, -9];
const reference = [-5, -6];
const tokens = [2, 3];
const pairs = { labels: null, format: "preference" as const };

test("dpo, simpo and orpo losses and rewards equal the papers' formulas on one pair", () => {
  const dpo = preferenceMetrics(settings("dpo", 0.1), policy, reference, tokens, pairs);
  close(dpo.loss, -Math.log(sig(0.1 * (1 - -3))));
  close(dpo.reward_margin!, 0.4);
  assert.equal(dpo.reward_accuracy, 1);
  const simpo = preferenceMetrics(settings("simpo", 2), policy, reference, tokens, pairs);
  close(simpo.loss, -Math.log(sig(2 * (-2 - -3) - 0.5 * 2)));
  close(simpo.chosen_reward!, -4);
  const orpo = preferenceMetrics(settings("orpo", 0.1), policy, reference, tokens, pairs);
  const odds = (m: number) => Math.log(Math.exp(m) / (1 - Math.exp(m)));
  close(orpo.loss, 2 - 0.1 * Math.log(sig(odds(-2) - odds(-3))));
  assert.equal(orpo.reward_accuracy, 1);
});

test("kto: the reference point is the mismatched answers' mean gain (at least 0); weights per label", () => {
  // Two examples: (answer, mismatched) each. Gains: answers +2 (good) and +1 (bad); mismatched +0.5 and +1.5.
  const p = [-3, -4.5, -6, -5.5];
  const ref = [-5, -5, -7, -7];
  const cfg = { ...settings("kto", 0.5), desirable_weight: 1.5 };
  const m = preferenceMetrics(cfg, p, ref, [1, 1, 1, 1], { labels: [1, 0], format: "unpaired" });
  const z = 1; // mean(0.5, 1.5)
  close(m.loss, (1.5 * (1 - sig(0.5 * (2 - z))) + (1 - sig(0.5 * (z - 1)))) / 2);
  // The good answer lies above the reference point; the bad one on it, not below: half right.
  assert.equal(m.reward_accuracy, 0.5);
  close(m.chosen_reward!, 1);
  close(m.rejected_reward!, 0.5);
  // Mismatched answers that lost probability: the reference point stays at 0.
  const low = preferenceMetrics(cfg, [-3, -9, -6, -9], ref, [1, 1, 1, 1], { labels: [1, 0], format: "unpaired" });
  close(low.loss, (1.5 * (1 - sig(0.5 * 2)) + (1 - sig(0.5 * -1))) / 2);
});

test("kto examples: pairs split into good and bad, each with another prompt's answer as its partner", () => {
  const pair = (q: string): LmExample => ({ format: "preference", prompt: q, chosen: `yes ${q}`, rejected: `no ${q}`, origin: `f:${q}` });
  const out = ktoExamples([pair("a"), pair("b")]);
  assert.deepEqual(
    out.map((e) => (e.format === "unpaired" ? [e.prompt, e.completion, e.label, e.partner] : null)),
    [
      ["a", "yes a", true, "yes b"],
      ["a", "no a", false, "yes b"],
      ["b", "yes b", true, "yes a"],
      ["b", "no b", false, "yes a"],
    ],
  );
  assert.deepEqual([...ktoLabels(out)], [1, 0, 1, 0]);
  // One prompt only: the answer is its own partner (the reference point is then the answer's gain).
  const alone = ktoExamples([{ format: "unpaired", prompt: "q", completion: "c", label: true, partner: null, origin: "f:1" }]);
  assert.equal((alone[0] as { partner: unknown }).partner, "c");
});
