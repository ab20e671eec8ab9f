// Runs and studies made before the run lifecycle and task plug-ins still work: a store and its
// run folders written by Hone 0.1 (commit 91dbc7b; src/testing/fixtures/make-store-v0.1.sh made
// them) are unpacked at the absolute path they were made in, then read, used and resumed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { hone, jsonLines, ROOT } from "../testing/fixtures.js";

const FIX = "/tmp/hone-fixture-v0.1";
const STORE = join(FIX, "store");
const H = (...args: string[]) => hone(["--store", STORE, ...args]);

function unpack(): void {
  rmSync(FIX, { recursive: true, force: true });
  execFileSync("tar", ["xzf", join(ROOT, "src", "testing", "fixtures", "store-v0.1.tgz"), "-C", "/tmp"]);
}

test("a 0.1 store: runs list and show; a dead trial shows as interrupted, not running", () => {
  unpack();
  const list = JSON.parse(H("runs", "--json").stdout) as { name: string; status: string; task: string }[];
  const byName = Object.fromEntries(list.map((r) => [r.name, r]));
  assert.equal(byName.done?.status, "completed");
  assert.equal(byName.half?.status, "interrupted");
  assert.equal(byName.chat?.status, "completed");
  assert.equal(byName["fixture-study-t1"]?.status, "interrupted", "its process was killed with the study");
  const shown = H("runs", "show", "done");
  assert.equal(shown.status, 0, shown.stderr);
  assert.match(shown.stdout, /completed/);
  assert.match(H("runs").stdout, /done\s+completed/);
});

test("a 0.1 classifier: eval gives its stored test metrics, eval --data and predict work, export to ONNX works", () => {
  unpack();
  const stored = JSON.parse(
    readFileSync(join(STORE, "runs", (JSON.parse(H("runs", "show", "done", "--json").stdout) as { id: string }).id, "report", "metrics.test.json"), "utf8"),
  );
  const ev = H("eval", "done", "--json");
  assert.equal(ev.status, 0, ev.stderr);
  assert.deepEqual(JSON.parse(ev.stdout).metrics, stored);
  const evFile = H("eval", "done", "--data", join(FIX, "data.jsonl"), "--json");
  assert.equal(evFile.status, 0, evFile.stderr);
  assert.equal(JSON.parse(evFile.stdout).metrics.count, 296);
  const pred = hone(["--store", STORE, "predict", "done"], { input: "where is my parcel\n" });
  assert.equal(pred.status, 0, pred.stderr);
  assert.equal(typeof (jsonLines(pred.stdout)[0] as { label: string }).label, "string");
  const exp = H("export", "done", "--json");
  assert.equal(exp.status, 0, exp.stderr);
  assert.ok(existsSync(join(JSON.parse(exp.stdout).dir, "model.onnx")));
});

test("a 0.1 sft run (no lm.head in its config): eval and generate work", () => {
  unpack();
  const ev = H("eval", "chat", "--json");
  assert.equal(ev.status, 0, ev.stderr);
  assert.equal(JSON.parse(ev.stdout).metrics.kind, "lm");
  const gen = H("generate", "chat", "--prompt", "where is my parcel?", "--max-new-tokens", "4");
  assert.equal(gen.status, 0, gen.stderr);
  assert.equal(jsonLines(gen.stdout).length, 1);
});

test("a 0.1 interrupted run resumes to the end; a 0.1 study continues to its budget", () => {
  unpack();
  const resumed = H("train", "--resume", "half", "--json");
  assert.equal(resumed.status, 0, resumed.stderr);
  const started = jsonLines(resumed.stdout).find((l) => l.type === "started") as { start_step: number };
  assert.ok(started.start_step > 0, "from its checkpoint");
  assert.equal(JSON.parse(H("runs", "show", "half", "--json").stdout).status, "completed");

  const study = H("tune", join(FIX, "tune.yaml"), "--json");
  assert.equal(study.status, 0, study.stderr);
  const ends = jsonLines(study.stdout).filter((l) => l.kind === "trial-end");
  assert.equal(ends.length, 2, "the killed trial and the one never started; the finished one is kept");
  const shown = H("tune", "show", "fixture-study");
  assert.equal(shown.status, 0, shown.stderr);
  assert.match(shown.stdout, /trials: 3 complete/);
  // tune list: the study, its sampler and metric, and its trials by state.
  const listed = H("tune", "list");
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, /study\s+sampler\s+metric\s+trials\s+complete\s+pruned\s+failed\s+open/);
  assert.match(listed.stdout, /fixture-study\s+\S+\s+\S+\s+3\s+3\s+0\s+0\s+0/);
});
