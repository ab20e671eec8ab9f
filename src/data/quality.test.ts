import { test } from "node:test";
import assert from "node:assert/strict";
import { qualityReport } from "./quality.js";

const ex = (text: string, label: string, origin: string) => ({ text, labels: [label], origin });

test("duplicates, conflicting labels, leakage and unseen labels are found", () => {
  const r = qualityReport({
    train: [
      ex("Where is my order", "shipping", "t:1"),
      ex("where is  my ORDER", "shipping", "t:2"),
      ex("refund please", "refund", "t:3"),
      ex("Refund please", "billing", "t:4"),
    ],
    validation: [ex("new text", "shipping", "v:1")],
    test: [ex("where is my order", "shipping", "s:1"), ex("cancel", "cancel", "s:2")],
  });
  assert.equal(r.duplicates[0]!.split, "train");
  assert.equal(r.duplicates[0]!.count, 2);
  assert.equal(r.conflicts.length, 1);
  assert.deepEqual(r.conflicts[0]!.origins, ["t:3", "t:4"]);
  assert.deepEqual(r.leakage, [{ from: "train", to: "test", count: 1, examples: ["s:1"] }]);
  assert.deepEqual(r.unseenLabels, [{ split: "test", label: "cancel", origin: "s:2" }]);
  assert.deepEqual(r.labelCounts.train, { shipping: 2, refund: 1, billing: 1 });
});
