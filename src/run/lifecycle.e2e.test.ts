// The run lifecycle under interruption, through the real CLI and the real engine on a tiny model:
// a kill at any moment, then --resume, gives the uninterrupted run's results bit for bit (CPU, same
// seed); a run is worked on by one process at a time; Ctrl-C at any moment exits 130 and leaves
// the run resumable; a full disk is a clear error that loses no finished checkpoint.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hone, honeSpawn, jsonLines, settled, tempDir, tinyTrainArgs } from "../testing/fixtures.js";

const trainArgs = (store: string, extra: string[] = []) => tinyTrainArgs(store, ["--max-steps", "50", "--set", "train.eval_every=10", ...extra]);

/** What must come out the same: every validation point, the best step, the test metrics. */
function outcome(store: string, runId: string) {
  const shown = JSON.parse(hone(["--store", store, "runs", "show", runId, "--json"]).stdout) as {
    status: string;
    best_step: number;
    run_dir: string;
    metrics: { split: string; step: number; name: string; value: number }[];
  };
  const validation = shown.metrics
    .filter((m) => m.split === "validation")
    .map((m) => `${m.step} ${m.name} ${m.value}`)
    .sort();
  const test = JSON.parse(readFileSync(join(shown.run_dir, "report", "metrics.test.json"), "utf8"));
  return { status: shown.status, best_step: shown.best_step, validation, test };
}

const runIdOf = (stdout: string) => String(jsonLines(stdout).find((l) => l.kind === "run")?.id ?? "");
const noStack = (stderr: string) => assert.doesNotMatch(stderr, /\n\s+at .*:\d+:\d+\)?\n/, "no stack trace");

let reference: ReturnType<typeof outcome> | null = null;
function uninterrupted() {
  if (reference) return reference;
  const store = tempDir();
  const r = hone(trainArgs(store));
  assert.equal(r.status, 0, r.stderr);
  reference = outcome(store, runIdOf(r.stdout));
  assert.ok(reference.validation.length >= 5 * 3, "five evaluations, several metrics each");
  return reference;
}

/** Kill the orchestrator (HONE_FAULT) or the engine (HONE_ENGINE_FAULT) at a point, resume, compare. */
async function killThenResume(env: Record<string, string>, expectStatus: number | null) {
  const expected = uninterrupted();
  const store = tempDir();
  const first = hone(trainArgs(store), { env });
  assert.equal(first.status, expectStatus, `${JSON.stringify(env)}: ${first.stderr}`);
  const list = JSON.parse(hone(["--store", store, "runs", "--json"]).stdout) as { id: string }[];
  assert.equal(list.length, 1, "the run exists");
  const runId = list[0]!.id;
  const status = await settled(store, runId);
  assert.ok(status === "interrupted" || status === "failed", `a dead run is never left ${status}`);
  const resumed = hone(["--store", store, "train", "--resume", runId, "--json"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.deepEqual(outcome(store, runId), expected);
  const runDir = join(store, "runs", runId);
  for (const dir of ["checkpoints", "model", "report"])
    assert.ok(!readdirSync(join(runDir, dir)).some((f) => f.includes(".tmp")), `no temporary files in ${dir}`);
  assert.ok(!existsSync(join(runDir, "lock")), "the lock is released");
}

test("kill -9 while an evaluation is judged, then --resume: the same series, best step and test metrics", async () => {
  await killThenResume({ HONE_FAULT: "eval@3" }, null);
});

test("kill -9 at a checkpoint (the engine goes on to an off-cadence one), then --resume: the same results", async () => {
  await killThenResume({ HONE_FAULT: "checkpoint@2" }, null);
});

test("the engine killed while it writes a checkpoint: exit 4, the half-written folder goes, --resume gives the same results", async () => {
  await killThenResume({ HONE_ENGINE_FAULT: "checkpoint@3" }, 4);
});

test("kill -9 before finalising, and before the report: --resume finishes without training again", async () => {
  await killThenResume({ HONE_FAULT: "finalise" }, null);
  await killThenResume({ HONE_FAULT: "report" }, null);
});

test("kill -9 while the data is prepared: --resume prepares it again and trains the same run", async () => {
  await killThenResume({ HONE_FAULT: "created" }, null);
});

test("one process per run: a second resume of a live run is refused (exit 2, names the process); a dead one's lock is taken over", async () => {
  const store = tempDir();
  const child = honeSpawn(trainArgs(store, ["--max-steps", "400"]));
  let out = "";
  const runId = await new Promise<string>((resolve) => {
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      if (/"type":"progress"/.test(out)) resolve(runIdOf(out.slice(0, out.lastIndexOf("\n") + 1)));
    });
  });
  const second = hone(["--store", store, "train", "--resume", runId]);
  assert.equal(second.status, 2, second.stderr);
  assert.match(second.stderr, new RegExp(`run ${runId} is in use by process ${child.pid}`));
  noStack(second.stderr);
  assert.equal(JSON.parse(hone(["--store", store, "runs", "show", runId, "--json"]).stdout).status, "running");

  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  assert.equal(await settled(store, runId), "interrupted", "a run whose processes are gone shows as interrupted");
  assert.match(hone(["--store", store, "runs"]).stdout, new RegExp(`${runId}\\s+interrupted`));
  const resumed = hone(["--store", store, "train", "--resume", runId, "--json", "--set", "train.max_steps=1"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(JSON.parse(hone(["--store", store, "runs", "show", runId, "--json"]).stdout).status, "completed");
});

test("Ctrl-C at any moment exits 130, leaves no run running, and an interrupted run resumes to the end", async () => {
  for (const delayMs of [20, 400, 1200, 2500, 4000]) {
    const store = tempDir();
    const child = honeSpawn(trainArgs(store));
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.stdout.on("data", () => {});
    setTimeout(() => child.kill("SIGINT"), delayMs);
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on("exit", (c, s) => resolve([c, s])));
    // Before Node has run the program's first line, its default handler ends the process by the
    // signal (a shell reports 130 for it too); from the first line on, the program exits 130 itself.
    assert.ok(code === 130 || (code === null && signal === "SIGINT" && delayMs < 200), `SIGINT after ${delayMs} ms: exit ${code} ${signal} ${err}`);
    noStack(err);
    const list = JSON.parse(hone(["--store", store, "runs", "--json"]).stdout || "[]") as { id: string }[];
    for (const r of list) {
      assert.equal(await settled(store, r.id), "interrupted", `after ${delayMs} ms`);
      const resumed = hone(["--store", store, "train", "--resume", r.id, "--json"]);
      assert.equal(resumed.status, 0, resumed.stderr);
    }
  }
});

test("a full disk: a clear error (exit 4 or 5, no stack trace), no run left running, and after space is freed --resume loses nothing", async (t) => {
  const mount = tempDir("hone-full-");
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1200k", "tmpfs", mount], { stdio: "ignore" });
  } catch {
    t.skip("cannot mount a small tmpfs here (needs root): the full-disk test does not run");
    return;
  }
  try {
    const store = join(mount, "store");
    mkdirSync(store);
    const first = hone(trainArgs(store));
    assert.ok(first.status === 4 || first.status === 5, `exit ${first.status}: ${first.stderr}`);
    assert.match(first.stderr, /no space left|disk is full/i);
    noStack(first.stderr);
    const list = JSON.parse(hone(["--store", store, "runs", "--json"]).stdout || "[]") as { id: string; status: string }[];
    // The run may not even exist if the disk filled before it was created; if it does, it is not "running".
    for (const r of list) assert.notEqual(await settled(store, r.id), "running");
    execFileSync("mount", ["-o", "remount,size=64m", mount]);
    if (list.length === 1) {
      const resumed = hone(["--store", store, "train", "--resume", list[0]!.id, "--json"]);
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.deepEqual(outcome(store, list[0]!.id), uninterrupted());
    }
    writeFileSync(join(mount, "ok"), "space is back");
  } finally {
    execFileSync("umount", ["-l", mount]);
  }
});
