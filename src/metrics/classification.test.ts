import { test } from "node:test";
import assert from "node:assert/strict";
import { expectedCalibrationError, multiLabelMetrics, singleLabelMetrics, softmax, tuneThreshold, isBetter } from "./classification.js";

const close = (a: number, b: number, eps = 1e-4) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);
const oneHot = (c: number, n = 3) => Array.from({ length: n }, (_, i) => (i === c ? 10 : 0));

test("single-label metrics match a hand computation", () => {
  // truth 0 0 1 1 2 2, predicted 0 1 1 1 2 0
  const m = singleLabelMetrics(
    [0, 1, 1, 1, 2, 0].map((c) => oneHot(c)),
    [0, 0, 1, 1, 2, 2],
    ["a", "b", "c"],
  );
  assert.deepEqual(m.confusion, [
    [1, 1, 0],
    [0, 2, 0],
    [1, 0, 1],
  ]);
  close(m.accuracy, 4 / 6);
  const [a, b, c] = m.per_class;
  close(a!.precision, 0.5);
  close(a!.recall, 0.5);
  close(a!.f1, 0.5);
  close(b!.precision, 2 / 3);
  close(b!.recall, 1);
  close(b!.f1, 0.8);
  close(c!.precision, 1);
  close(c!.recall, 0.5);
  close(c!.f1, 2 / 3);
  close(m.macro_f1, (0.5 + 0.8 + 2 / 3) / 3);
  close(m.micro_f1, 4 / 6);
  close(m.weighted_f1, (0.5 + 0.8 + 2 / 3) / 3);
  // confidence ~0.99991 everywhere, accuracy 2/3 -> ECE = 0.99991 - 0.66667
  close(m.ece, softmax(oneHot(0))[0]! - 4 / 6);
});

test("classes never seen nor predicted do not dilute macro F1", () => {
  const m = singleLabelMetrics([oneHot(0, 4), oneHot(1, 4)], [0, 1], ["a", "b", "c", "d"]);
  close(m.macro_f1, 1);
});

test("ECE on equal-width bins", () => {
  close(expectedCalibrationError([0.9, 0.9], [true, false]), 0.4);
  close(expectedCalibrationError([0.95, 0.25], [true, false]), (0.05 + 0.25) / 2);
});

test("multi-label metrics match a hand computation", () => {
  const m = multiLabelMetrics(
    [
      [3, -3, -3],
      [-3, -3, 3],
      [-3, 3, -3],
    ],
    [[0, 1], [2], []],
    ["a", "b", "c"],
    0.5,
  );
  close(m.micro_f1, 2 / 3);
  close(m.macro_f1, 2 / 3);
  close(m.subset_accuracy, 1 / 3);
  close(m.hamming_loss, 2 / 9);
  assert.deepEqual(
    m.per_class.map((c) => c.support),
    [1, 1, 1],
  );
});

test("the threshold is tuned for micro-F1 on validation", () => {
  // Positives sit at probability ~0.3, negatives at ~0.1: 0.5 finds nothing, ~0.2 finds all.
  const logit = (p: number) => Math.log(p / (1 - p));
  const logits = [
    [logit(0.3), logit(0.1)],
    [logit(0.1), logit(0.3)],
  ];
  const t = tuneThreshold(logits, [[0], [1]], ["a", "b"]);
  assert.ok(t > 0.1 && t <= 0.3, String(t));
  close(multiLabelMetrics(logits, [[0], [1]], ["a", "b"], t).micro_f1, 1);
});

test("loss is minimised, scores maximised", () => {
  assert.ok(isBetter("loss", 0.5, 0.6));
  assert.ok(!isBetter("accuracy", 0.5, 0.6));
  assert.ok(!isBetter("accuracy", 0.61, 0.6, 0.02));
  assert.ok(isBetter("accuracy", 0.1, null));
});
