import { test } from "node:test";
import assert from "node:assert/strict";
import { AugmentConfig } from "../config/schema.js";
import type { Example } from "../data/load.js";
import { augmentPrompts, readGenerated } from "./prompts.js";

const ex = (text: string, label: string, line: number): Example => ({ text, labels: [label], origin: `d.jsonl:${line}` });
const TRAIN = [ex("where is my parcel", "shipping", 1), ex("refund me\nplease", "refund", 2), ex("parcel late", "shipping", 3)];

test("prompts: paraphrases per example in data order, then new examples per label, each with its own draw", () => {
  const a = { ...AugmentConfig.parse({ paraphrases: 2, per_label: 3, examples_in_prompt: 2, batch_size: 32 }), batch_size: 32, enabled: true };
  const name = (l: string) => l.replace("_", " ");
  const prompts = augmentPrompts(TRAIN, ["refund", "shipping"], a, (l) => `${l} (described)`, name);
  assert.equal(prompts.length, 3 * 2 + 2 * 3);
  assert.deepEqual(
    prompts.slice(0, 6).map((p) => [p.kind, p.of, p.labels[0]]),
    [
      ["paraphrase", "d.jsonl:1", "shipping"],
      ["paraphrase", "d.jsonl:1", "shipping"],
      ["paraphrase", "d.jsonl:2", "refund"],
      ["paraphrase", "d.jsonl:2", "refund"],
      ["paraphrase", "d.jsonl:3", "shipping"],
      ["paraphrase", "d.jsonl:3", "shipping"],
    ],
  );
  // A text with a newline is one line of the list.
  assert.equal(prompts[2]!.prompt, 'The same request to a virtual assistant (intent "refund (described)"), written in different ways:\n- refund me please\n-');
  const news = prompts.slice(6);
  assert.deepEqual(
    news.map((p) => p.labels[0]),
    ["refund", "refund", "refund", "shipping", "shipping", "shipping"],
  );
  for (const p of news.filter((x) => x.labels[0] === "shipping")) {
    assert.match(p.prompt, /^Messages that users sent to a virtual assistant, all with the intent "shipping \(described\)":\n- .+\n- .+\n-$/);
    assert.ok(p.prompt.includes("- where is my parcel\n") && p.prompt.includes("- parcel late\n"));
  }
  // The same seed asks the same; another seed draws other lists.
  assert.deepEqual(
    augmentPrompts(TRAIN, ["refund", "shipping"], a, (l) => l, name),
    augmentPrompts(TRAIN, ["refund", "shipping"], a, (l) => l, name),
  );
});

test("a generation's example is its first line without list marks, quotes or control characters", () => {
  assert.equal(readGenerated(' "where did my parcel go?"\n- another', 100), "where did my parcel go?");
  assert.equal(readGenerated("\n\n2) refund\u0007 me now", 100), "refund me now");
  assert.equal(readGenerated("   \n  ", 100), null);
  assert.equal(readGenerated("broken \uFFFD text", 100), null);
  assert.equal(readGenerated("x".repeat(101), 100), null);
});

test("screening: each generated example is dropped once, for the first reason that holds", async () => {
  const { screen } = await import("./augment.js");
  const data = {
    train: TRAIN,
    validation: [ex("has my refund been sent", "refund", 10)],
    test: [ex("when will the parcel arrive", "shipping", 20)],
  };
  const prompts = Array.from({ length: 7 }, (_, i) => ({ kind: "new" as const, labels: [i < 4 ? "shipping" : "refund"], of: null, prompt: `p${i}` }));
  const generations = [
    " when will the parcel arrive?", // a test text: leakage
    " Where is my parcel!", // a training text, normalised: duplicate of train
    " could you tell me where my order is", // new: kept
    " could you tell me where my order is", // again: duplicate of generated
    "", // unusable
    " has my refund been sent yet", // close to the validation text: leakage
    " i would like my money returned", // new: kept
  ];
  const out = screen(prompts, generations, data, 0.8);
  assert.deepEqual(
    out.map((c) => c.dropped),
    ["leakage", "duplicate_of_train", null, "duplicate_of_generated", "unusable", "leakage", null],
  );
  assert.deepEqual(out[0]!.near, { text: "when will the parcel arrive", similarity: 1 });
  assert.ok(out[5]!.near!.similarity >= 0.8 && out[5]!.near!.similarity < 1);
  assert.equal(out[2]!.text, "could you tell me where my order is");
});
