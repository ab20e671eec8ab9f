import { test } from "node:test";
import assert from "node:assert/strict";
import { jaccard, NearIndex, normalise, trigrams } from "./similar.js";

test("normalising folds case, punctuation, width and spaces", () => {
  assert.equal(normalise("  What's   my BALANCE?! "), "whats my balance");
  assert.equal(normalise("ｆｕｌｌ width"), "full width");
});

test("trigram Jaccard: the same text 1, one word changed in between, unrelated near 0", () => {
  const a = trigrams("what is my checking account balance");
  assert.equal(jaccard(a, trigrams("What is my checking account balance?")), 1);
  const near = jaccard(a, trigrams("what is my savings account balance"));
  assert.ok(near > 0.5 && near < 0.8, String(near));
  assert.ok(jaccard(a, trigrams("set an alarm for seven")) < 0.1);
});

test("the index finds what is at least as close as asked, and the closest of several", () => {
  const index = new NearIndex<number>();
  const texts = Array.from({ length: 2000 }, (_, i) => `order number ${i} is late, where is parcel ${i * 7}`);
  texts.forEach((t, i) => index.add(t, i));
  index.add("set an alarm for seven in the morning", -1);
  assert.deepEqual(index.closest("Set an alarm for seven in the morning!", 0.8), { value: -1, similarity: 1 });
  const hit = index.closest("set an alarm for seven in the mornings", 0.8);
  assert.equal(hit?.value, -1);
  assert.ok(hit!.similarity >= 0.8 && hit!.similarity < 1);
  assert.equal(index.closest("how do i reset my pin", 0.8), null);
  // Exact search over all pairs agrees with the banded search on every probe here.
  for (const probe of ["order number 15 is late, where is parcel 105", "order number 15 is late where is my parcel 105", "where is parcel 105"]) {
    const g = trigrams(probe);
    let best = -1;
    let bestSim = 0;
    texts.forEach((t, i) => {
      const s = jaccard(g, trigrams(t));
      if (s >= 0.8 && s > bestSim) [best, bestSim] = [i, s];
    });
    const found = index.closest(probe, 0.8);
    assert.equal(found?.value ?? -1, best, probe);
  }
});
