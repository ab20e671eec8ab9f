import assert from "node:assert/strict";
import { test } from "node:test";
import { detectScheme, entities, invalidTransitions, tagSet, toTags, transitions, viterbi } from "./tags.js";

test("entities follow conlleval: an I- after O or another type starts an entity", () => {
  assert.deepEqual(entities(["B-PER", "I-PER", "O", "B-LOC"]), [
    { start: 0, end: 2, type: "PER" },
    { start: 3, end: 4, type: "LOC" },
  ]);
  // IOB1 / invalid BIO: I-LOC after O starts LOC; I-ORG after I-LOC starts ORG.
  assert.deepEqual(entities(["O", "I-LOC", "I-ORG", "I-ORG"]), [
    { start: 1, end: 2, type: "LOC" },
    { start: 2, end: 4, type: "ORG" },
  ]);
  // Adjacent entities of one type, told apart by B-.
  assert.deepEqual(entities(["B-PER", "B-PER", "I-PER"]), [
    { start: 0, end: 1, type: "PER" },
    { start: 1, end: 3, type: "PER" },
  ]);
  // BIOES and BILOU.
  assert.deepEqual(entities(["S-PER", "B-LOC", "E-LOC", "U-ORG", "B-X", "L-X"]), [
    { start: 0, end: 1, type: "PER" },
    { start: 1, end: 3, type: "LOC" },
    { start: 3, end: 4, type: "ORG" },
    { start: 4, end: 6, type: "X" },
  ]);
});

test("schemes are detected, written and read back", () => {
  assert.equal(detectScheme(["O", "I-PER"]), "io");
  assert.equal(detectScheme(["B-PER", "I-PER"]), "bio");
  assert.equal(detectScheme(["B-PER", "E-PER", "S-LOC"]), "bioes");
  assert.equal(detectScheme(["U-PER"]), "bioes");
  const ents = [
    { start: 0, end: 1, type: "PER" },
    { start: 2, end: 5, type: "LOC" },
  ];
  assert.deepEqual(toTags(ents, 6, "bio"), ["B-PER", "O", "B-LOC", "I-LOC", "I-LOC", "O"]);
  assert.deepEqual(toTags(ents, 6, "bioes"), ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "O"]);
  assert.deepEqual(toTags(ents, 6, "io"), ["I-PER", "O", "I-LOC", "I-LOC", "I-LOC", "O"]);
  for (const s of ["bio", "bioes"] as const) assert.deepEqual(entities(toTags(ents, 6, s)), ents);
  assert.deepEqual(tagSet(["PER", "LOC"], "bio"), ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]);
});

test("invalid transitions are named with the word", () => {
  assert.deepEqual(
    invalidTransitions(["O", "I-PER", "B-LOC", "I-PER"], "bio").map((t) => t.message),
    ["word 2: I-PER after O (an entity must start with B-PER)", "word 4: I-PER after B-LOC (an entity must start with B-PER)"],
  );
  assert.equal(invalidTransitions(["B-PER", "I-PER", "O"], "bio").length, 0);
  assert.equal(invalidTransitions(["B-PER", "O"], "bioes").length, 1); // B- never closed by E-
  assert.equal(invalidTransitions(["I-PER"], "io").length, 0);
});

test("constrained decoding never writes an I- after O, and keeps the valid best path", () => {
  const labels = ["O", "B-PER", "I-PER"];
  const t = transitions(labels, "bio");
  const lp = (ps: number[]) => Float64Array.from(ps, Math.log);
  // argmax would say O, I-PER (invalid); the best valid sequence is B-PER, I-PER or O, B-PER.
  const path = viterbi([lp([0.5, 0.45, 0.05]), lp([0.1, 0.3, 0.6])], t);
  assert.deepEqual(
    path.map((i) => labels[i]),
    ["B-PER", "I-PER"],
  );
  // When the best tags are valid, they are kept.
  assert.deepEqual(viterbi([lp([0.8, 0.1, 0.1]), lp([0.1, 0.8, 0.1])], t), [0, 1]);
  // BIOES: a sentence may not end inside an entity.
  const l2 = ["O", "B-X", "I-X", "E-X", "S-X"];
  const p2 = viterbi([lp([0.1, 0.6, 0.1, 0.1, 0.1])], transitions(l2, "bioes"));
  assert.notEqual(l2[p2[0]!], "B-X");
});
