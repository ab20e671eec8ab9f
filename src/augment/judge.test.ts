import { test } from "node:test";
import assert from "node:assert/strict";
import { judge } from "./augment.js";

const examples = () =>
  [
    { labels: ["balance"], dropped: null },
    { labels: ["balance"], dropped: null },
    { labels: ["balance"], dropped: null },
    { labels: ["balance"], dropped: null },
    { labels: ["balance"], dropped: null },
  ] as { labels: string[]; dropped: string | null; predicted?: { label: string; score: number } }[];
// What the run trained without them read: its own label surely, its own label unsurely, another
// label surely, another label unsurely, and nothing (no prediction).
const tops = [
  { label: "balance", score: 0.95 },
  { label: "balance", score: 0.4 },
  { label: "transfer", score: 0.95 },
  { label: "transfer", score: 0.3 },
  undefined,
];

test("judge: a confident other label is dropped; the rest are kept while min_confidence is 0", () => {
  const xs = examples();
  judge(xs as never, tops, { reject_confidence: 0.9, min_confidence: 0 });
  assert.deepEqual(
    xs.map((x) => x.dropped),
    [null, null, "other_label", null, null],
  );
  assert.deepEqual(xs[2]!.predicted, { label: "transfer", score: 0.95 });
  assert.equal(xs[0]!.predicted, undefined);
});

test("judge: min_confidence keeps only examples whose own label the run ranks first with that probability (LAMBADA)", () => {
  const xs = examples();
  judge(xs as never, tops, { reject_confidence: 0.9, min_confidence: 0.5 });
  assert.deepEqual(
    xs.map((x) => x.dropped),
    [null, "low_confidence", "other_label", "low_confidence", null],
  );
  assert.deepEqual(xs[1]!.predicted, { label: "balance", score: 0.4 });
  assert.deepEqual(xs[3]!.predicted, { label: "transfer", score: 0.3 });
});
