import { test } from "node:test";
import assert from "node:assert/strict";
import { splitExamples, rng } from "./split.js";
import type { Example } from "./load.js";

const data: Example[] = [];
for (const [label, n] of [
  ["a", 100],
  ["b", 30],
  ["c", 3],
  ["d", 1],
] as const) {
  for (let i = 0; i < n; i++) data.push({ text: `${label}${i}`, labels: [label], origin: `f:${data.length + 1}` });
}

test("the generator is seeded and uniform enough", () => {
  const a = rng(1);
  const b = rng(1);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(
    xs.slice(0, 5),
    Array.from({ length: 5 }, () => b()),
  );
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05);
});

test("same seed, same split; another seed, another split", () => {
  const s1 = splitExamples(data, { validation: 0.1, test: 0.1 }, 42, true);
  const s2 = splitExamples(data, { validation: 0.1, test: 0.1 }, 42, true);
  const s3 = splitExamples(data, { validation: 0.1, test: 0.1 }, 7, true);
  assert.deepEqual(
    s1.test.map((e) => e.text),
    s2.test.map((e) => e.text),
  );
  assert.notDeepEqual(s1.test.map((e) => e.text).sort(), s3.test.map((e) => e.text).sort());
});

test("stratified: every label keeps its share, and at least one training example", () => {
  const s = splitExamples(data, { validation: 0.1, test: 0.1 }, 42, true);
  const count = (xs: Example[], l: string) => xs.filter((e) => e.labels[0] === l).length;
  assert.equal(count(s.test, "a"), 10);
  assert.equal(count(s.validation, "a"), 10);
  assert.equal(count(s.test, "b"), 3);
  assert.equal(count(s.train, "d"), 1);
  assert.ok(count(s.train, "c") >= 1);
  assert.equal(s.train.length + s.validation.length + s.test.length, data.length);
  const all = new Set([...s.train, ...s.validation, ...s.test].map((e) => e.text));
  assert.equal(all.size, data.length); // a partition: nothing lost, nothing twice
});
