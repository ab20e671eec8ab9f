import assert from "node:assert/strict";
import { test } from "node:test";
import { tokenMetrics } from "./metrics.js";
import { entities } from "./tags.js";

const sent = (tags: string[], intent: string | null = null) => ({ entities: entities(tags), tags, intent });

test("entity scores are exact span and type, micro over entities and per type (seqeval's numbers)", () => {
  // seqeval: f1_score([["B-PER","I-PER","O","B-LOC"],["B-ORG","O"]], [["B-PER","I-PER","O","B-ORG"],["B-ORG","O"]]) = 0.6667
  const truth = [sent(["B-PER", "I-PER", "O", "B-LOC"]), sent(["B-ORG", "O"])];
  const guess = [sent(["B-PER", "I-PER", "O", "B-ORG"]), sent(["B-ORG", "O"])];
  const m = tokenMetrics(truth, guess);
  assert.equal(m.precision, 2 / 3);
  assert.equal(m.recall, 2 / 3);
  assert.ok(Math.abs(m.f1 - 2 / 3) < 1e-12);
  assert.deepEqual(
    m.per_type.map((t) => [t.type, t.precision, t.recall, t.support]),
    [
      ["LOC", 0, 0, 1],
      ["ORG", 0.5, 1, 1],
      ["PER", 1, 1, 1],
    ],
  );
  assert.equal(m.tag_accuracy, 5 / 6);
  assert.equal(m.exact_match, 1 / 2);
  assert.equal(m.intent_accuracy, null);
});

test("a boundary off by one word is a miss and a false positive", () => {
  const m = tokenMetrics([sent(["B-PER", "I-PER"])], [sent(["B-PER", "O"])]);
  assert.deepEqual([m.precision, m.recall, m.f1], [0, 0, 0]);
});

test("joint data: intent accuracy, and exact match needs the intent and every entity", () => {
  const truth = [sent(["O", "B-city"], "GetWeather"), sent(["B-artist"], "PlayMusic"), sent(["O"], "RateBook")];
  const guess = [sent(["O", "B-city"], "GetWeather"), sent(["B-artist"], "AddToPlaylist"), sent(["B-artist"], "RateBook")];
  const m = tokenMetrics(truth, guess);
  assert.equal(m.intent_accuracy, 2 / 3);
  assert.equal(m.exact_match, 1 / 3);
  assert.equal(m.recall, 1);
  assert.equal(m.precision, 2 / 3);
});
