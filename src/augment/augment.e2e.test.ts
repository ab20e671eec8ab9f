// Augmentation through the real CLI and engine: a tiny random language model writes examples for
// the tiny classifier. What must hold whatever it writes: every generated example is accounted
// for once (kept, or dropped for one reason) and stored with its prompt and provenance; the run
// with them has the same validation and test examples and the same method, and its train split
// grows by exactly the kept examples; the run kept is the better one on validation; and a kill -9
// while generating or while training the second run, then --resume, gives the same files and
// scores as the uninterrupted augmentation (bit for bit on the CPU).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hone, jsonLines, settled, tempDir, tinyLm, tinyTrainArgs } from "../testing/fixtures.js";
import type { AugmentSummary } from "./types.js";

const args = (store: string, extra: string[] = []) =>
  tinyTrainArgs(store, [
    "--set",
    "train.epochs=2",
    "--set",
    "augment.enabled=true",
    "--set",
    `augment.model=${tinyLm()}`,
    "--set",
    "augment.paraphrases=1",
    "--set",
    "augment.per_label=2",
    "--set",
    "augment.chunk=64",
    "--set",
    "augment.reject_confidence=0.1",
    ...extra,
  ]);

const runDir = (store: string, id: string) => join(store, "runs", id);
const plan = (store: string, id: string) => JSON.parse(readFileSync(join(runDir(store, id), "plan.json"), "utf8"));

/** What an augmentation leaves, without run ids (which differ between stores). */
function outcome(store: string, parent: string) {
  const summary = JSON.parse(readFileSync(join(runDir(store, parent), "augment", "summary.json"), "utf8")) as AugmentSummary;
  const read = (f: string) => readFileSync(join(runDir(store, parent), "augment", f), "utf8");
  const child = summary.augmented ? JSON.parse(readFileSync(join(runDir(store, summary.augmented.run), "report", "metrics.test.json"), "utf8")) : null;
  return {
    generated: read("generated.jsonl"),
    kept: read("kept.jsonl"),
    counts: summary.counts,
    kept_run: summary.kept,
    scores: [summary.original.validation, summary.original.test, summary.augmented?.validation, summary.augmented?.test],
    child_test: child,
  };
}

test("augmentation: generated, screened, trained again, the better run kept; kill -9 while generating or training again, then --resume, changes nothing", async () => {
  const store = tempDir();
  const r = hone(args(store));
  assert.equal(r.status, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  assert.ok(lines.some((l) => l.kind === "phase" && /^generating examples: \d+\/\d+ \([\d.]+\/s, about \d+ s left\)/.test(String(l.text))));
  const result = lines.find((l) => l.kind === "result") as { run: string; augment: AugmentSummary };
  const s = result.augment;
  const parent = s.original.run;
  const parentPlan = plan(store, parent);

  // Every example asked for is accounted for once.
  const c = s.counts;
  assert.equal(c.asked, parentPlan.counts.train * 1 + parentPlan.labels.length * 2);
  assert.equal(c.unusable + c.leakage + c.duplicate_of_train + c.duplicate_of_generated + c.other_label + c.low_confidence + c.kept, c.asked);
  const generated = readFileSync(s.files.generated, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(generated.length, c.asked);
  assert.equal(generated.filter((g) => g.dropped === null).length, c.kept);
  for (const g of generated) assert.ok(typeof g.prompt === "string" && typeof g.generation === "string");
  // The run without them judged these confidently another label, at or above reject_confidence.
  const other = generated.filter((g) => g.dropped === "other_label");
  assert.ok(other.length > 0, "a low reject_confidence rejects some");
  for (const g of other) assert.ok(!g.labels.includes(g.predicted.label) && g.predicted.score >= 0.1);
  const kept = readFileSync(s.files.kept, "utf8").trim().split("\n");
  assert.equal(kept.length, c.kept);
  const provenance = JSON.parse(readFileSync(s.files.provenance, "utf8"));
  assert.equal(provenance.model, tinyLm());
  assert.equal(provenance.sampling.seed, 0);
  assert.equal(provenance.filters.judged_by, parent);

  // The run with them: same validation and test, same method, train grown by what was kept.
  assert.ok(s.augmented, "some examples were kept");
  const childPlan = plan(store, s.augmented!.run);
  assert.equal(childPlan.counts.train, parentPlan.counts.train + c.kept);
  assert.equal(childPlan.counts.validation, parentPlan.counts.validation);
  assert.equal(childPlan.counts.test, parentPlan.counts.test);
  assert.equal(childPlan.method, parentPlan.method);
  const lineage = JSON.parse(hone(["--store", store, "runs", "show", s.augmented!.run, "--json"]).stdout);
  assert.match(JSON.stringify(lineage), new RegExp(`augmented-from.*${parent}|${parent}.*augmented-from`));
  // The better validation score decides (if_better), and the result is that run's.
  const better = s.augmented!.validation! > s.original.validation!;
  assert.equal(s.kept, better ? "augmented" : "original");
  assert.equal(result.run, better ? s.augmented!.run : parent);
  assert.match(readFileSync(join(runDir(store, parent), "report", "augment.md"), "utf8"), /Kept: \*\*(augmented|original)\*\*/);
  const expected = outcome(store, parent);

  // kill -9 after the second chunk of generation, then --resume: the same augmentation.
  const store2 = tempDir();
  const killed = hone(args(store2), { env: { HONE_FAULT: "augment-chunk@2" } });
  assert.equal(killed.status, null, killed.stderr);
  const id2 = (JSON.parse(hone(["--store", store2, "runs", "--json"]).stdout) as { id: string }[])[0]!.id;
  assert.equal(await settled(store2, id2), "completed", "the run itself had completed");
  const resumed = hone(["--store", store2, "train", "--resume", id2, "--json"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.deepEqual(outcome(store2, id2), expected);

  // kill -9 inside the second run's training (its first checkpoint), then --resume of the first.
  const checkpoints = lines.findIndex((l) => l.kind === "run" && l.id === s.augmented!.run);
  const before = lines.slice(0, checkpoints).filter((l) => l.type === "checkpoint").length;
  const store3 = tempDir();
  const killed3 = hone(args(store3), { env: { HONE_FAULT: `checkpoint@${before + 1}` } });
  assert.equal(killed3.status, null, killed3.stderr);
  const runs3 = JSON.parse(hone(["--store", store3, "runs", "--json"]).stdout) as { id: string; created_at: string }[];
  assert.equal(runs3.length, 2, "the second run had started");
  const first = [...runs3].sort((a, b) => a.id.localeCompare(b.id))[0]!.id;
  for (const r3 of runs3) await settled(store3, r3.id);
  const resumed3 = hone(["--store", store3, "train", "--resume", first, "--json"]);
  assert.equal(resumed3.status, 0, resumed3.stderr);
  assert.deepEqual(outcome(store3, first), expected);
  // Finished: nothing is left to resume.
  const again = hone(["--store", store3, "train", "--resume", first]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /already complete/);
});

test("augmentation of a hierarchical run: examples are written for leaves, judged on full paths, and the run with them keeps the hierarchy", () => {
  const store = tempDir();
  const r = hone(args(store, ["--set", "task=hierarchical"]));
  assert.equal(r.status, 0, r.stderr);
  const result = jsonLines(r.stdout).find((l) => l.kind === "result") as { run: string; augment: AugmentSummary; test: { kind: string; consistency: number } };
  const s = result.augment;
  const parentPlan = plan(store, s.original.run);
  const leaves = new Set<string>(parentPlan.labels);
  assert.ok(leaves.size > 3 && [...leaves].every((l) => l.includes("/")), "the plan's labels are leaf paths");
  const c = s.counts;
  // One paraphrase per training example and two new examples per leaf, each accounted for once.
  assert.equal(c.asked, parentPlan.counts.train + leaves.size * 2);
  assert.equal(c.unusable + c.leakage + c.duplicate_of_train + c.duplicate_of_generated + c.other_label + c.low_confidence + c.kept, c.asked);
  const generated = readFileSync(s.files.generated, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { labels: string[]; dropped: string | null; predicted: { label: string; score: number } | null });
  for (const g of generated) assert.ok(g.labels.length === 1 && leaves.has(g.labels[0]!), `a generated example's label is a leaf path: ${g.labels}`);
  // The screen judges with the hierarchical run's own decoding: a whole path, never a half one.
  for (const g of generated.filter((x) => x.dropped === "other_label")) assert.ok(leaves.has(g.predicted!.label) && g.predicted!.label !== g.labels[0]);
  assert.ok(s.augmented, "some examples were kept");
  const childPlan = plan(store, s.augmented!.run);
  assert.equal(childPlan.counts.train, parentPlan.counts.train + c.kept);
  assert.equal(childPlan.counts.validation, parentPlan.counts.validation);
  assert.deepEqual(childPlan.labels, parentPlan.labels);
  const childConfig = JSON.parse(readFileSync(join(runDir(store, s.augmented!.run), "config.json"), "utf8")) as { task: string };
  assert.equal(childConfig.task, "hierarchical");
  assert.equal(result.test.kind, "hierarchical");
  assert.equal(result.test.consistency, 1);
  assert.equal(result.run, s.kept === "augmented" ? s.augmented!.run : s.original.run);
});
