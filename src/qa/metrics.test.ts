import assert from "node:assert/strict";
import { test } from "node:test";
import { tuneNullThreshold } from "./decode.js";
import { exactMatch, normalizeAnswer, qaMetrics, tokenF1 } from "./metrics.js";

test("answers are normalised as the official SQuAD script does", () => {
  assert.equal(normalizeAnswer("The  Denver Broncos!"), "denver broncos");
  assert.equal(normalizeAnswer("an apple, a pear"), "apple pear");
  assert.equal(exactMatch("Denver Broncos", "the Denver Broncos."), 1);
  assert.equal(exactMatch("Broncos", "Denver Broncos"), 0);
});

test("F1 counts shared answer tokens (evaluate-v1.1.py's numbers)", () => {
  // prediction "Denver Broncos team" vs gold "Denver Broncos": precision 2/3, recall 1 -> 0.8
  assert.ok(Math.abs(tokenF1("Denver Broncos team", "Denver Broncos") - 0.8) < 1e-12);
  assert.equal(tokenF1("Carolina", "Denver Broncos"), 0);
  // Repeated tokens count as often as both sides have them.
  assert.ok(Math.abs(tokenF1("x y y", "y y z") - 2 / 3) < 1e-12);
  // Articles do not count: "a b b" is "b b" (precision 1, recall 2/3).
  assert.ok(Math.abs(tokenF1("a b b", "b b c") - 0.8) < 1e-12);
});

test("the best gold answer counts; an unanswerable question is right only when left empty", () => {
  const m = qaMetrics([["Denver Broncos", "Broncos"], [], []], ["Broncos", "", "something"]);
  assert.equal(m.exact_match, 2 / 3);
  assert.equal(m.f1, 2 / 3);
  assert.deepEqual(m.no_answer, { count: 2, exact_match: 0.5, f1: 0.5 });
  assert.deepEqual(m.has_answer, { count: 1, exact_match: 1, f1: 1 });
  assert.equal(qaMetrics([["x"]], ["x"]).no_answer, null);
});

test("the no-answer threshold maximises F1 over the validation margins", () => {
  // margins (null - span): 3 unanswerable questions with high margins, 2 answerable with low ones.
  const a = (margin: number) => ({ text: "x", start: 0, end: 1, score: 0, null_score: margin });
  const answers = [a(-2), a(-1), a(1), a(2), a(3)];
  const answered = [1, 1, 0, 0, 0];
  const none = [0, 0, 1, 1, 1];
  const t = tuneNullThreshold(answers, answered, none);
  assert.ok(t >= -1 && t < 1, `threshold ${t}`);
});
