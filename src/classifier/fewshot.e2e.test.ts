// Few-shot and zero-shot classifiers through the real CLI and engine on the tiny model: the method
// chosen from the data and said with its reason, the contrastive stage inside the run's one
// lifecycle (a kill -9 inside it, then --resume, gives the uninterrupted run's results), and a
// zero-shot run that is evaluated, predicts, and exports like a trained one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXAMPLE_DATA, hone, jsonLines, settled, tempDir, tinyModel, tinyTrainArgs } from "../testing/fixtures.js";
import { load } from "../deploy/runtime.js";
import type { Prediction } from "../predict/types.js";

// The example data has a median of 23 examples per label: auto_below 30 makes it "few".
const fewArgs = (store: string, extra: string[] = []) =>
  tinyTrainArgs(store, [
    "--set",
    "fewshot.auto_below=30",
    "--set",
    "fewshot.pairs_per_example=4",
    "--set",
    "train.epochs=2",
    "--set",
    "train.eval_every=5",
    ...extra,
  ]);

function outcome(store: string, runId: string) {
  const shown = JSON.parse(hone(["--store", store, "runs", "show", runId, "--json"]).stdout) as {
    best_step: number;
    run_dir: string;
    metrics: { split: string; step: number; name: string; value: number }[];
  };
  return {
    best_step: shown.best_step,
    validation: shown.metrics
      .filter((m) => m.split === "validation")
      .map((m) => `${m.step} ${m.name} ${m.value}`)
      .sort(),
    test: JSON.parse(readFileSync(join(shown.run_dir, "report", "metrics.test.json"), "utf8")),
  };
}

test("few examples per label: the run chooses few-shot and says why; a kill -9 inside the contrastive stage, then --resume, loses nothing", async () => {
  const store = tempDir();
  const r = hone(fewArgs(store));
  assert.equal(r.status, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  const method = lines.find((l) => l.kind === "phase" && String(l.text).startsWith("method fewshot"));
  assert.ok(method, "the method and its reason are said");
  assert.match(String(method!.text), /median 23 training examples per label over 11 labels, at most fewshot.auto_below \(30\)/);
  const runId = String(lines.find((l) => l.kind === "run")!.id);
  const plan = JSON.parse(readFileSync(join(store, "runs", runId, "plan.json"), "utf8"));
  assert.equal(plan.method, "fewshot");
  assert.equal(plan.pairs, plan.counts.train * 4);
  assert.equal(plan.pre_steps, Math.ceil(plan.pairs / 16));
  const stage = lines.filter((l) => l.type === "progress" && l.stage === "contrastive");
  assert.ok(stage.length > 0 && stage.every((l) => (l.step as number) <= plan.pre_steps));
  const evals = lines.filter((l) => l.type === "eval").map((l) => l.step as number);
  assert.ok(evals.length > 0 && evals.every((s) => s > plan.pre_steps), "evaluations begin with the heads' stage");
  const expected = outcome(store, runId);
  // The data doctor says the same before any run.
  const doctor = hone(["data", "inspect", "--data", EXAMPLE_DATA, "--set", "fewshot.auto_below=30", "--json"]);
  assert.equal(doctor.status, 0, doctor.stderr);
  assert.equal((JSON.parse(doctor.stdout) as { method: { method: string } }).method.method, "fewshot");

  // Killed at the second checkpoint of the contrastive stage (the orchestrator, kill -9).
  const store2 = tempDir();
  const first = hone(fewArgs(store2), { env: { HONE_FAULT: "checkpoint@2" } });
  assert.equal(first.status, null, first.stderr);
  const id2 = (JSON.parse(hone(["--store", store2, "runs", "--json"]).stdout) as { id: string }[])[0]!.id;
  await settled(store2, id2);
  const resumed = hone(["--store", store2, "train", "--resume", id2, "--json"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  const at = jsonLines(resumed.stdout).find((l) => l.kind === "run")!.resumed_from as number;
  assert.ok(at > 0 && at < plan.pre_steps, `resumed inside the contrastive stage (step ${at} of ${plan.pre_steps})`);
  assert.deepEqual(outcome(store2, id2), expected);
});

test("train.max_steps caps the contrastive stage as well as the heads' stage", () => {
  const store = tempDir();
  const r = hone(fewArgs(store, ["--set", "train.max_steps=3"]));
  assert.equal(r.status, 0, r.stderr);
  const runId = String(jsonLines(r.stdout).find((l) => l.kind === "run")!.id);
  const plan = JSON.parse(readFileSync(join(store, "runs", runId, "plan.json"), "utf8"));
  assert.equal(plan.method, "fewshot");
  assert.equal(plan.pre_steps, 3);
  assert.equal(plan.total_steps, 6);
  const steps = jsonLines(r.stdout)
    .filter((l) => l.type === "progress")
    .map((l) => l.step as number);
  assert.equal(Math.max(...steps), 6);
});

test("zero-shot: a classifier from label names and descriptions alone, evaluated, predicting and exported like a trained one", async () => {
  const store = tempDir();
  const dir = tempDir();
  const descriptions = join(dir, "labels.yaml");
  writeFileSync(descriptions, "payment/declined: my card was declined\nservice/returns: I want to send it back\n");
  const r = hone(tinyTrainArgs(store, ["--set", "fewshot.method=zeroshot", "--set", `fewshot.descriptions=${descriptions}`]));
  assert.equal(r.status, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  const res = lines.find((l) => l.kind === "result") as { run: string; test: { accuracy: number; count: number } };
  assert.ok(res.test.count > 0);
  const runId = res.run;
  const plan = JSON.parse(readFileSync(join(store, "runs", runId, "plan.json"), "utf8"));
  assert.deepEqual([plan.method, plan.total_steps, plan.head_init], ["zeroshot", 0, "labels"]);
  assert.equal(lines.filter((l) => l.type === "progress").length, 0, "nothing is trained");

  // A text equal to a label's description is that label (the same embedding, cosine 1).
  const p = hone(["--store", store, "predict", runId], { input: "my card was declined\nI want to send it back\n" });
  assert.equal(p.status, 0, p.stderr);
  assert.deepEqual(
    jsonLines(p.stdout).map((x) => x.label),
    ["payment/declined", "service/returns"],
  );
  const ev = hone(["--store", store, "eval", runId, "--json"]);
  assert.equal(ev.status, 0, ev.stderr);
  assert.equal(JSON.parse(ev.stdout).metrics.accuracy, res.test.accuracy);

  const bundle = join(tempDir(), "bundle");
  const e = hone(["--store", store, "export", runId, "--out", bundle, "--json"]);
  assert.equal(e.status, 0, e.stderr);
  const model = await load(bundle);
  const fromNode = (await model.predict(["my card was declined", "I want to send it back"])) as Prediction[];
  await model.close();
  assert.deepEqual(
    fromNode.map((x) => x.label),
    ["payment/declined", "service/returns"],
  );
});

test("zero-shot without training data: the classes are the described labels, the test file is evaluated; without zero-shot, no training data is refused", () => {
  const store = tempDir();
  const dir = tempDir();
  const test = join(dir, "test.jsonl");
  const rows = [
    ["my card was declined", "declined"],
    ["I want to send it back", "returns"],
    ["where is my parcel", "shipping"],
  ];
  writeFileSync(test, rows.map(([text, label]) => JSON.stringify({ text, label })).join("\n"));
  const described = (labels: string[]) => `{${labels.map((l, i) => `${l}: "${rows[i]![0]}"`).join(", ")}}`;
  const args = (sets: string[]) => ["--store", store, "train", "--test", test, "--model", tinyModel(), "--json", ...sets.flatMap((s) => ["--set", s])];
  const r = hone(args(["fewshot.method=zeroshot", `fewshot.descriptions=${described(["declined", "returns", "shipping"])}`, "train.threads=1"]));
  assert.equal(r.status, 0, r.stderr);
  const res = jsonLines(r.stdout).find((l) => l.kind === "result") as { run: string; test: { accuracy: number; count: number } };
  const plan = JSON.parse(readFileSync(join(store, "runs", res.run, "plan.json"), "utf8"));
  assert.deepEqual([plan.labels, plan.counts, plan.total_steps], [["declined", "returns", "shipping"], { train: 0, validation: 0, test: 3 }, 0]);
  // Each test text is its label's description: the same embedding, cosine 1.
  assert.deepEqual([res.test.count, res.test.accuracy], [3, 1]);

  // A test label that no description names is refused, named, before any work.
  const missing = hone(args(["fewshot.method=zeroshot", `fewshot.descriptions=${described(["declined", "returns"])}`]));
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /label "shipping" \(in test\) is not one of fewshot.descriptions' labels/);
  // Any other run needs training data: said with the field and the fix.
  const none = hone(args([]));
  assert.equal(none.status, 2);
  assert.match(none.stderr, /data\.train: missing[\s\S]*--data train\.jsonl/);
  assert.doesNotMatch(none.stderr, /at .*\.js:\d+/); // no stack trace
});

test("bad label descriptions are refused before any work, with the field and a fix", () => {
  const store = tempDir();
  const dir = tempDir();
  const bad = join(dir, "labels.yaml");
  writeFileSync(bad, "just a sentence\n"); // neither a map nor a list of labels
  const r = hone(tinyTrainArgs(store, ["--set", "fewshot.method=zeroshot", "--set", `fewshot.descriptions=${bad}`]));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /fewshot\.descriptions/);
  assert.match(r.stderr, /not a map of label to description/);
  assert.doesNotMatch(r.stderr, /\n\s+at .*:\d+:\d+\)?\n/);
  assert.equal((JSON.parse(hone(["--store", store, "runs", "--json"]).stdout) as unknown[]).length, 0);
});

test("a hierarchy trains few-shot too: each level's head starts from its nodes' mean embeddings", () => {
  const store = tempDir();
  const r = hone(fewArgs(store, ["--set", "task=hierarchical", "--set", "fewshot.method=fewshot", "--set", "train.eval_every=epoch"]));
  assert.equal(r.status, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  assert.ok(lines.some((l) => l.type === "log" && String(l.message).includes("mean embedding")));
  const res = lines.find((l) => l.kind === "result") as { run: string; test: { levels: { accuracy: number }[] } };
  assert.equal(res.test.levels.length, 2);
  const plan = JSON.parse(readFileSync(join(store, "runs", res.run, "plan.json"), "utf8"));
  assert.deepEqual([plan.method, plan.head_init], ["fewshot", "prototypes"]);
});
