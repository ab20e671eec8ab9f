// Hierarchies and multi-task heads end to end through the real CLI and engine, on the tiny model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXAMPLE_DATA, hone, jsonLines, tempDir, tinyModel } from "../testing/fixtures.js";

const tinyArgs = (store: string, extra: string[]) => [
  "--store",
  store,
  "train",
  "--model",
  tinyModel(),
  "--json",
  "--set",
  "train.lr=3e-3",
  "--set",
  "train.batch_size=16",
  "--set",
  "data.max_length=32",
  "--set",
  "train.threads=1",
  "--seed",
  "7",
  ...extra,
];

interface Result {
  run: string;
  test: {
    kind: string;
    accuracy: number;
    consistency: number;
    loss: number;
    levels: { depth: number; accuracy: number }[];
    tasks?: Record<string, { accuracy: number }>;
  };
}

function train(store: string, extra: string[]) {
  const r = hone(tinyArgs(store, extra));
  assert.equal(r.status, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  const evals = lines.filter((l) => l.type === "eval") as { loss: number }[];
  return { res: lines.find((l) => l.kind === "result") as unknown as Result, evals };
}

for (const strategy of ["flat", "per_level", "local"]) {
  test(`hierarchical ${strategy}: learns, decodes only consistent paths, reports per level and per node`, () => {
    const store = tempDir();
    const { res, evals } = train(store, ["--data", EXAMPLE_DATA, "--epochs", "10", "--set", "task=hierarchical", "--set", `hierarchy.strategy=${strategy}`]);
    assert.ok(evals.at(-1)!.loss < evals[0]!.loss * 0.9, `validation loss ${evals[0]!.loss} -> ${evals.at(-1)!.loss}`);
    assert.equal(res.test.kind, "hierarchical");
    assert.equal(res.test.consistency, 1);
    assert.equal(res.test.levels.length, 2);
    assert.ok(res.test.levels[0]!.accuracy > 1 / 3, `level 1 accuracy ${res.test.levels[0]!.accuracy} is not above chance`);
    const runDir = join(store, "runs", res.run);
    for (const f of ["model/heads.json", "report/tree.svg", "report/tree.png", "report/nodes.test.csv"]) assert.ok(existsSync(join(runDir, f)), `missing ${f}`);

    const pred = hone(["--store", store, "predict", "last"], { input: "the zipper on my jacket broke\n" });
    assert.equal(pred.status, 0, pred.stderr);
    const p = jsonLines(pred.stdout)[0] as { path: string[]; levels: { label: string; score: number }[]; partial: boolean; label: string };
    assert.equal(p.partial, false);
    assert.equal(p.path.length, 2);
    assert.equal(p.label, p.path.join("/"));
    assert.ok(p.levels[0]!.score >= p.levels[1]!.score, "a child is never likelier than its parent");
  });
}

test("hierarchy from level columns + a taxonomy of leaf names; a target precision gives partial paths; multi-task head", () => {
  const dir = tempDir();
  const rows = readFileSync(EXAMPLE_DATA, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { text: string; label: string });
  // Level columns, the issue given by leaf name only, and a second task (question or complaint).
  const data = rows.map((r) => {
    const [branch, issue] = r.label.split("/");
    return JSON.stringify({ text: r.text, branch, issue, tone: /\?|^(what|how|can|do|is|when|why|will|are)\b/i.test(r.text) ? "question" : "statement" });
  });
  writeFileSync(join(dir, "data.jsonl"), `${data.join("\n")}\n`);
  const tree: Record<string, string[]> = {};
  for (const r of rows) (tree[r.label.split("/")[0]!] ??= []).includes(r.label.split("/")[1]!) || tree[r.label.split("/")[0]!]!.push(r.label.split("/")[1]!);
  writeFileSync(join(dir, "taxonomy.json"), JSON.stringify(tree));
  writeFileSync(
    join(dir, "hone.yaml"),
    [
      "task: hierarchical",
      "data:",
      "  train: data.jsonl",
      "  tasks: { tone: { column: tone, loss_weight: 0.5 } }",
      "hierarchy:",
      "  levels: [branch, issue]",
      "  taxonomy: taxonomy.json",
      "  strategy: local",
      "  target_precision: 0.99",
      "",
    ].join("\n"),
  );
  const store = tempDir();
  const { res } = train(store, [join(dir, "hone.yaml"), "--epochs", "6"]);
  assert.equal(res.test.consistency, 1);
  assert.ok(res.test.tasks?.tone && res.test.tasks.tone.accuracy > 0.5, JSON.stringify(res.test.tasks));
  const m = res.test as unknown as { with_thresholds: { thresholds: number[]; partial_rate: number } };
  assert.equal(m.with_thresholds.thresholds.length, 2);
  const pred = hone(["--store", store, "predict", "last"], { input: "can I pay with paypal?\n" });
  const p = jsonLines(pred.stdout)[0] as { tasks: { tone: { label: string } }; partial: boolean; full_path: string };
  assert.ok(["question", "statement"].includes(p.tasks.tone.label));
  assert.equal(typeof p.partial, "boolean");
  assert.match(p.full_path, /^(payment|product|service)\//);
});

test("bad hierarchy input: a label missing from the taxonomy gives file, line and a suggestion", () => {
  const dir = tempDir();
  writeFileSync(join(dir, "taxonomy.yaml"), "payment: [refund, declined]\nservice: [shipping]\n");
  writeFileSync(
    join(dir, "data.jsonl"),
    `${['{"text": "a", "label": "refund"}', '{"text": "b", "label": "shiping"}', '{"text": "c", "label": "payment/shipping"}'].join("\n")}\n`,
  );
  const r = hone([
    "--store",
    tempDir(),
    "train",
    "--data",
    join(dir, "data.jsonl"),
    "--model",
    tinyModel(),
    "--set",
    "task=hierarchical",
    "--set",
    `hierarchy.taxonomy=${join(dir, "taxonomy.yaml")}`,
  ]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /data\.jsonl:2/);
  assert.match(r.stderr, /"shiping" is not in the taxonomy/);
  assert.match(r.stderr, /did you mean "shipping"/);
  assert.match(r.stderr, /data\.jsonl:3.*inconsistent path/s);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/); // no stack trace
});
