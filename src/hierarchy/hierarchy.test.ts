import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Tree } from "./tree.js";
import { layout, targets, terminalProbabilities, rawConsistent } from "./strategies.js";
import { decodePath, marginals, tuneThresholds, type PathDecision } from "./decode.js";
import { hierarchyMetrics } from "./metrics.js";
import { labelPath, readTaxonomy } from "./taxonomy.js";
import { HoneError } from "../util/errors.js";

// a/x, a/y, b/z and a shallow leaf c: ids a=0 a/x=1 a/y=2 b=3 b/z=4 c=5 (sorted).
const tree = () => new Tree([["b", "z"], ["c"], ["a", "y"], ["a", "x"]], "/");
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

test("tree: sorted ids, terminals, depths, lineage", () => {
  const t = tree();
  assert.deepEqual(
    t.nodes.map((n) => n.key),
    ["a", "a/x", "a/y", "b", "b/z", "c"],
  );
  assert.deepEqual(t.terminals, [1, 2, 4, 5]);
  assert.deepEqual(t.top, [0, 3, 5]);
  assert.equal(t.maxDepth, 2);
  assert.deepEqual(t.lineage(4), [3, 4]);
  assert.deepEqual(t.parents, [-1, 0, 3]);
});

test("per_level layout: stop class where paths end early, codes, coupling groups", () => {
  const l = layout(tree(), "per_level");
  assert.deepEqual(
    l.heads.map((h) => h.labels),
    [
      ["a", "b", "c"],
      ["a/x", "a/y", "b/z", "∅"],
    ],
  );
  assert.deepEqual(l.codes, [
    [
      [0, 0],
      [1, 0],
    ],
    [
      [0, 0],
      [1, 1],
    ],
    [
      [0, 1],
      [1, 2],
    ],
    [
      [0, 2],
      [1, 3],
    ],
  ]);
  assert.deepEqual(l.couplings, [{ parent: "level_1", child: "level_2", parent_groups: [1, 2, 0], child_groups: [1, 1, 2, 0] }]);
  assert.deepEqual(targets(l, 3), [2, 3]);
});

test("local layout: a head per parent, no target off the path, stop class at terminal parents", () => {
  const l = layout(tree(), "local");
  assert.deepEqual(l.heads, [
    { name: "node_root", level: 1, labels: ["a", "b", "c"] },
    { name: "node_0", level: 2, labels: ["a/x", "a/y"] },
    { name: "node_3", level: 2, labels: ["b/z"] },
  ]);
  assert.deepEqual(targets(l, 0), [0, 0, -1]);
  assert.deepEqual(targets(l, 3), [2, -1, -1]);
  const mixed = layout(new Tree([["p"], ["p", "q"]], "/"), "local");
  assert.deepEqual(
    mixed.heads.map((h) => h.labels),
    [["p"], ["p/q", "∅"]],
  );
  assert.deepEqual(mixed.codes, [
    [
      [0, 0],
      [1, 1],
    ],
    [
      [0, 0],
      [1, 0],
    ],
  ]);
});

test("per_level decoding: product of level probabilities, best consistent path, marginals", () => {
  const t = tree();
  const l = layout(t, "per_level");
  const p = terminalProbabilities(l, [[0.5, 0.3, 0.2].map(Math.log), [0.1, 0.2, 0.6, 0.1].map(Math.log)]);
  [1 / 7, 2 / 7, 18 / 35, 2 / 35].forEach((v, i) => close(p[i]!, v));
  const m = marginals(t, p);
  close(m[0]!, 3 / 7);
  close(m[3]!, 18 / 35);
  const d = decodePath(t, p, "best_path", null);
  assert.deepEqual(d.path, [3, 4]);
  assert.equal(d.partial, false);
  // Level heads alone would say a (level 1) then b/z (level 2): inconsistent.
  assert.equal(rawConsistent(l, [[0.5, 0.3, 0.2].map(Math.log), [0.1, 0.2, 0.6, 0.1].map(Math.log)]), false);
  assert.equal(rawConsistent(l, [[0.5, 0.3, 0.2].map(Math.log), [0.6, 0.2, 0.1, 0.1].map(Math.log)]), true);
});

test("decoding: ties go to the first path; top_down can differ from best_path; thresholds cut to a partial path", () => {
  const t = tree();
  assert.deepEqual(decodePath(t, [0.25, 0.25, 0.25, 0.25], "best_path", null).path, [0, 1]);
  const probs = [0.3, 0.3, 0.4, 0];
  assert.deepEqual(decodePath(t, probs, "best_path", null).path, [3, 4]);
  assert.deepEqual(decodePath(t, probs, "top_down", null).path, [0, 1]); // a (0.6) first, then the tie x/y -> x
  const cut = decodePath(t, probs, "top_down", [0.5, 0.5]);
  assert.deepEqual(cut, { path: [0], full: [0, 1], scores: [0.6, 0.3], partial: true });
  assert.equal(decodePath(t, probs, "top_down", [0.7, 0]).path.length, 0);
  // A terminal parent: top_down stops there when ending is likelier than any child.
  const mixed = new Tree([["p"], ["p", "q"], ["r"]], "/");
  assert.deepEqual(decodePath(mixed, [0.5, 0.3, 0.2], "top_down", null).path, [0]);
  assert.deepEqual(decodePath(mixed, [0.3, 0.5, 0.2], "top_down", null).path, [0, 1]);
});

test("metrics: every number against a hand computation", () => {
  const t = tree();
  const dec = (path: number[], partial = false): PathDecision => ({ path, full: path, scores: path.map(() => 1), partial });
  // truth a/x, a/y, c; predicted a/x, a/x, b/z
  const m = hierarchyMetrics(t, [dec([0, 1]), dec([0, 1]), dec([3, 4])], [1, 2, 5], { trueProb: [0.5, 0.25, 0.125], rawConsistent: [true, false, true] });
  close(m.weighted_f1, (1 * 2 + (2 / 3) * 1) / 5); // node F1 weighted by support: a 2, a/x 1, a/y 1, c 1
  close(m.raw_consistency, 2 / 3);
  close(m.levels[1]!.macro_f1, (2 / 3 + 0 + 0) / 3); // depth-2 nodes present: a/x, a/y, b/z
  close(m.accuracy, 1 / 3);
  close(m.micro_f1, 6 / 11); // TP 3, FP 3, FN 2
  close(m.hierarchical_precision, 0.5);
  close(m.hierarchical_recall, 0.6);
  close(m.hierarchical_f1, 6 / 11);
  close(m.macro_f1, (1 + 2 / 3) / 6);
  close(m.levels[0]!.accuracy, 2 / 3);
  close(m.levels[0]!.micro_f1, 2 / 3);
  close(m.levels[1]!.accuracy, 1 / 3);
  close(m.loss, (Math.log(2) + Math.log(4) + Math.log(8)) / 3);
  assert.equal(m.consistency, 1);
  const byLabel = Object.fromEntries(m.per_node.map((n) => [n.label, n]));
  close(byLabel["a/x"]!.f1, 2 / 3);
  assert.equal(byLabel.c!.support, 1);

  // A partial prediction: level 2 undecided, counts against coverage, not as a wrong node.
  const p = hierarchyMetrics(t, [{ path: [0], full: [0, 1], scores: [0.9, 0.4], partial: true }, dec([3, 4])], [1, 4]);
  close(p.partial_rate, 0.5);
  close(p.full_path_accuracy, 1);
  close(p.levels[1]!.coverage, 0.5);
  close(p.levels[1]!.covered_accuracy, 1);
  close(p.hierarchical_precision, 1);
  close(p.hierarchical_recall, 3 / 4);
  assert.equal(hierarchyMetrics(t, [dec([0, 4])], [1]).consistency, 0);
});

test("thresholds for a target precision, one level at a time", () => {
  const t = new Tree([["a"], ["b"]], "/");
  const d = (n: number, s: number): PathDecision => ({ path: [n], full: [n], scores: [s], partial: false });
  const decisions = [d(0, 0.9), d(0, 0.8), d(1, 0.7), d(0, 0.6)];
  const truth = [0, 1, 1, 0];
  assert.deepEqual(tuneThresholds(t, decisions, truth, 0.75), [0.6]);
  assert.deepEqual(tuneThresholds(t, decisions, truth, 0.9), [0.9]);
  assert.deepEqual(tuneThresholds(t, [d(0, 0.5)], [1], 0.9), [1]);
});

test("taxonomy: nested YAML and HiAGM TSV, labels by name or path, one clear error per defect", () => {
  const dir = mkdtempSync(join(tmpdir(), "hone-tax-"));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const yaml = readTaxonomy(file("t.yaml", "product: { defect: null, sizing: null }\npayment: [refund, charge]\n"));
  assert.deepEqual(labelPath("refund", "/", yaml), { path: ["payment", "refund"] });
  assert.deepEqual(labelPath("product/defect", "/", yaml), { path: ["product", "defect"] });
  assert.match((labelPath("payment/defect", "/", yaml) as { error: string }).error, /inconsistent path/);
  const missing = labelPath("refnd", "/", yaml) as { error: string; hint: string };
  assert.match(missing.error, /not in the taxonomy/);
  assert.match(missing.hint, /refund/);
  assert.match((labelPath("a//b", "/", null) as { error: string }).error, /empty level/);

  const tsv = readTaxonomy(file("t.tsv", "Root\tCS\tMed\nCS\tML\tDB\nMed\tCancer\n"));
  assert.deepEqual(tsv.byName.get("ML"), ["CS", "ML"]);

  const errorOf = (name: string, text: string) => {
    try {
      readTaxonomy(file(name, text));
    } catch (e) {
      assert.ok(e instanceof HoneError);
      assert.equal(e.issues.length, 1, JSON.stringify(e.issues));
      return e.issues[0]!;
    }
    assert.fail("no error");
  };
  assert.match(errorOf("cycle.tsv", "Root\tA\nB\tC\nC\tB\n").message, /cycle/);
  const orphan = errorOf("orphan.tsv", "Root\tCS\nCS\tML\nCSS\tDB\n");
  assert.match(orphan.message, /orphan: parent "CSS"/);
  assert.equal(orphan.line, 3);
  assert.match(orphan.hint!, /CS/);
  assert.match(errorOf("dup.tsv", "Root\tA\tB\nA\tx\nB\tx\n").message, /child of two parents/);
  assert.match(errorOf("dup.yaml", "A: [x, y]\nB: [x]\n").message, /child of two parents/);
  assert.match(errorOf("noroot.tsv", "A\tx\n").message, /no top level/);
});
