import assert from "node:assert/strict";
import { test } from "node:test";
import { balancedWeights, headSpecs } from "./heads.js";

test("balanced class weights: n / (classes x count), -1 targets skipped, each target's mean weight 1", () => {
  // Class 0 three times, class 1 once, class 2 never, one example off this head (-1).
  const w = balancedWeights([{ name: "y", numLabels: 3, multiLabel: false, targets: [[0], [0], [1], [0], [-1]] }]);
  assert.deepEqual(w.y!.classes, [4 / (2 * 3), 4 / (2 * 1), 1]);
  const mean = [0, 0, 1, 0].reduce((s, k) => s + w.y!.classes![k]!, 0) / 4;
  assert.ok(Math.abs(mean - 1) < 1e-12);
});

test("balanced label weights of a multi-label head: positives n / (2 x positives), negatives n / (2 x negatives)", () => {
  // 4 examples: label 0 in one, label 1 in all (nothing to balance: 1), label 2 in none (1).
  const w = balancedWeights([{ name: "y", numLabels: 3, multiLabel: true, targets: [[0, 1], [1], [1], [1]] }]);
  assert.deepEqual(w.y!.labels, { positive: [4 / 2, 1, 1], negative: [4 / 6, 1, 1] });
  // Each label's positives and negatives then weigh as much in total: 1 x 2 = 3 x 2/3.
  const specs = headSpecs({ heads: [{ name: "y", labels: ["a", "b", "c"], multi_label: true, loss_weight: 1 }] }, 0, w);
  assert.deepEqual(specs[0]!.label_weights, w.y!.labels);
  assert.equal(specs[0]!.class_weights, null);
  // Without train.class_weight: no weights in the job.
  assert.equal(headSpecs({ heads: [{ name: "y", labels: ["a"], multi_label: false, loss_weight: 1 }] }, 0).at(0)!.class_weights, null);
});
