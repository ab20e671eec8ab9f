import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ResolvedFewShot } from "../config/resolved.js";
import type { Example } from "../data/load.js";
import { decideMethod, labelName, labelTexts, resolveFewShot, samplePairs } from "./fewshot.js";
import { loadConfig } from "../config/load.js";
import { tempDir } from "../testing/fixtures.js";
import type { HeadPlan } from "./heads.js";

const settings: ResolvedFewShot = {
  method: "auto",
  auto_below: 16,
  pairs_per_example: 20,
  epochs: 1,
  batch_size: 16,
  lr: 2e-5,
  head_init: "auto",
  scale: 20,
  descriptions: null,
};

test("contrastive pairs: as many similar as dissimilar per example, other labels met evenly, seeded", () => {
  // Unbalanced on purpose: label a has 40 examples, b..e 5 each.
  const labels = [...Array(40).fill(["a"]), ...["b", "c", "d", "e"].flatMap((l) => Array(5).fill([l]))] as string[][];
  const { pairs, similar } = samplePairs(labels, 20, 2, 7);
  assert.equal(similar.length, labels.length * 20 * 2);
  const perAnchor = new Map<number, [number, number]>();
  const metByA = new Map<string, number>();
  for (let k = 0; k < similar.length; k++) {
    const [i, j] = [pairs[2 * k]!, pairs[2 * k + 1]!];
    const c = perAnchor.get(i) ?? [0, 0];
    c[similar[k]!]! += 1;
    perAnchor.set(i, c);
    assert.equal(similar[k] === 1, labels[i]![0] === labels[j]![0], "similar means a label in common");
    if (similar[k] === 1) assert.notEqual(i, j, "a similar pair is two examples when the label has two");
    if (similar[k] === 0 && labels[i]![0] === "a") metByA.set(labels[j]![0]!, (metByA.get(labels[j]![0]!) ?? 0) + 1);
  }
  for (const [, [dis, sim]] of perAnchor) assert.deepEqual([dis, sim], [20, 20]);
  // The 40 a-examples met b, c, d, e about equally (800 dissimilar pairs, 200 each expected), although
  // the labels are drawn first: not 5/20 of them each by example count, the same by label.
  for (const l of ["b", "c", "d", "e"]) assert.ok(Math.abs(metByA.get(l)! - 200) < 60, `${l}: ${metByA.get(l)}`);
  assert.deepEqual(samplePairs(labels, 20, 2, 7).pairs, pairs);
  assert.notDeepEqual(samplePairs(labels, 20, 2, 8).pairs, pairs);
});

test("contrastive pairs of multi-label data: dissimilar pairs share no label; a label's only example pairs with itself", () => {
  const labels = [["x", "y"], ["y"], ["z"], ["x"], ["w"]];
  const { pairs, similar } = samplePairs(labels, 10, 1, 1);
  for (let k = 0; k < similar.length; k++) {
    const [a, b] = [labels[pairs[2 * k]!]!, labels[pairs[2 * k + 1]!]!];
    const shared = a.some((l) => b.includes(l));
    assert.equal(similar[k] === 1, shared);
  }
  // "w" has one example: its similar pairs are (4, 4).
  for (let k = 0; k < similar.length; k++) if (pairs[2 * k] === 4 && similar[k] === 1) assert.equal(pairs[2 * k + 1], 4);
});

test("contrastive pairs of multi-label data with unlabelled examples: theirs are all dissimilar, to labelled ones", () => {
  const labels = [["x"], [], ["y"], ["x", "y"], []];
  const { pairs, similar } = samplePairs(labels, 6, 2, 3);
  assert.equal(similar.length, labels.length * 6 * 2);
  for (let k = 0; k < similar.length; k++) {
    const [a, b] = [labels[pairs[2 * k]!]!, labels[pairs[2 * k + 1]!]!];
    if (a.length === 0) {
      assert.equal(similar[k], 0);
      assert.ok(b.length > 0, "an unlabelled example's partner has a label");
    }
    assert.equal(
      similar[k] === 1,
      a.some((l) => b.includes(l)),
    );
  }
  // No example with a label: every pair is an example with itself (nothing to contrast), no crash.
  assert.deepEqual([...samplePairs([[], []], 2, 1, 0).similar], [1, 1, 1, 1]);
});

test("the method: few-shot when the median label has at most auto_below examples, said with the reason", () => {
  const ex = (label: string, n: number): Example[] => Array.from({ length: n }, (_, i) => ({ text: `${label} ${i}`, labels: [label], origin: "x" }));
  const few = decideMethod(settings, [...ex("a", 5), ...ex("b", 5), ...ex("c", 100)], ["a", "b", "c"]);
  assert.equal(few.method, "fewshot");
  assert.match(few.reason, /median 5 training examples per label over 3 labels/);
  assert.equal(decideMethod(settings, [...ex("a", 17), ...ex("b", 20)], ["a", "b"]).method, "finetune");
  assert.equal(decideMethod({ ...settings, method: "zeroshot" }, ex("a", 100), ["a"]).method, "zeroshot");
});

test("label texts: descriptions by label or a path's last part, else the label's name spelled as words", () => {
  assert.equal(labelName("card_arrival", null), "card arrival");
  assert.equal(labelName("getExchangeRate", null), "get exchange rate");
  assert.equal(labelName("payment/late-fee", "/"), "payment late fee");
  const plan = {
    heads: [
      { name: "level_1", labels: ["payment", "service"], multi_label: false, loss_weight: 1 },
      { name: "level_2", labels: ["payment/refund", "service/returns"], multi_label: false, loss_weight: 1 },
      { name: "tags", labels: ["O", "B-x"], multi_label: false, loss_weight: 1, level: "token" },
    ],
    hierarchy: { separator: "/" },
  } as unknown as HeadPlan;
  assert.deepEqual(labelTexts(plan, { refund: "money back", service: "help with an order" }), {
    level_1: ["payment", "help with an order"],
    level_2: ["money back", "service returns"],
  });
});

test("descriptions as a list of labels (inline or a file) read each label by its name; a map stays as written", () => {
  const dir = tempDir();
  const withList = (descriptions: unknown) => resolveFewShot(loadConfig(null, [], { data: { train: "t.jsonl" }, fewshot: { descriptions } }).config, dir);
  assert.deepEqual(withList(["card_arrival", "refund"]).descriptions, { card_arrival: "card arrival", refund: "refund" });
  writeFileSync(join(dir, "labels.yaml"), "- card_arrival\n- refund\n");
  assert.deepEqual(withList("labels.yaml").descriptions, { card_arrival: "card arrival", refund: "refund" });
  assert.deepEqual(withList({ refund: "give my money back" }).descriptions, { refund: "give my money back" });
  assert.deepEqual(withList([0, 1]).descriptions, { "0": "0", "1": "1" });
  writeFileSync(join(dir, "bad.yaml"), "- card_arrival\n- {a: b}\n");
  assert.throws(() => withList("bad.yaml"), /invalid label descriptions/);
});
