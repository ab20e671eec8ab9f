// Hyperparameter search end to end: the real CLI and engine on the tiny model. A study runs
// and reports, the best config retrains (--final), a kill -9 mid-study loses and repeats
// nothing, two PostgreSQL workers share a study and requeue a dead worker's trial.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import Database from "better-sqlite3";
import { EXAMPLE_DATA, hone, honeSpawn, jsonLines, tempDir, tinyModel } from "../testing/fixtures.js";

function config(dir: string, tune: string, train = "epochs: 3"): string {
  const file = join(dir, "tune.yaml");
  writeFileSync(
    file,
    `name: tiny
model: { path: ${tinyModel()} }
data: { train: ${EXAMPLE_DATA}, max_length: 32 }
train: { ${train}, batch_size: 16, threads: 1, seed: 7 }
tune:
${tune}
  space:
    train.lr: loguniform(3e-4, 1e-2)
    train.batch_size: choice(8, 16)
    train.warmup_ratio: uniform(0, 0.2)
`,
  );
  return file;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The engine processes a hone process started (its children running hone_engine). */
const enginesOf = (pid: number) =>
  spawnSync("pgrep", ["-P", String(pid), "-f", "hone_engine"], { encoding: "utf8" })
    .stdout.split("\n")
    .filter(Boolean)
    .map(Number);
const running = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const enginesGone = async (pids: number[]) => {
  for (let i = 0; i < 120 && pids.some(running); i++) await sleep(250);
  assert.ok(!pids.some(running), "engine processes still running 30 s after their orchestrator died");
};

test("hone tune: a TPE study with ASHA runs, reports, and --final retrains the best config and tests it once", () => {
  const dir = tempDir();
  const file = config(dir, "  sampler: tpe\n  trials: 5\n  startup_trials: 3\n  parallel: 2\n  pruner: asha\n");
  const store = join(dir, "store");
  const r = hone(["--store", store, "tune", file, "--final", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  const ends = lines.filter((l) => l.kind === "trial-end") as { trial: { number: number; state: string; values: number[] } }[];
  assert.equal(ends.length, 5);
  assert.deepEqual(ends.map((e) => e.trial.number).sort(), [0, 1, 2, 3, 4]);
  for (const e of ends) assert.ok(["complete", "pruned"].includes(e.trial.state) && e.trial.values[0]! >= 0 && e.trial.values[0]! <= 1);
  const result = lines.find((l) => l.kind === "result") as {
    best: { number: number; values: number[] };
    final: { run: string; test: { accuracy: number; count: number } };
  };
  const bestOfTrials = Math.max(...ends.filter((e) => e.trial.state === "complete").map((e) => e.trial.values[0]!));
  assert.equal(result.best.values[0], bestOfTrials);
  // --final retrained the winner's values and tested once: the run's stored config and test metrics say so.
  const final = JSON.parse(hone(["--store", store, "runs", "show", result.final.run, "--json"]).stdout) as {
    status: string;
    config: { train: { lr: number; batch_size: number; warmup_ratio: number } };
    test_metrics: { accuracy: number };
  };
  assert.equal(final.status, "completed");
  const winner = (ends.find((e) => e.trial.number === result.best.number)!.trial as unknown as { params: Record<string, number> }).params;
  assert.equal(final.config.train.lr, winner["train.lr"]);
  assert.equal(final.config.train.batch_size, winner["train.batch_size"]);
  assert.ok(result.final.test.count > 0);
  assert.equal(final.test_metrics.accuracy, result.final.test.accuracy);
  const out = join(store, "studies", "tiny");
  for (const f of ["trials.csv", "best.yaml", "summary.json", "history.svg", "history.png", "parallel.png", "intermediate.png"])
    assert.ok(existsSync(join(out, f)), `missing ${f}`);
  // best.yaml is a plain config: the tune section gone, the winning values in it.
  const best = readFileSync(join(out, "best.yaml"), "utf8");
  assert.doesNotMatch(best, /^tune:/m);
  const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
  assert.match(best, new RegExp(`batch_size: ${summary.best.params["train.batch_size"]}`));
  // Trial runs never touched the test split; the final run did, once.
  const db = new Database(join(store, "hone.db"), { readonly: true });
  const tested = db.prepare("SELECT DISTINCT r.name FROM metrics m JOIN runs r ON r.id = m.run_id WHERE m.split = 'test'").all() as { name: string }[];
  db.close();
  assert.deepEqual(
    tested.map((t) => t.name),
    ["tiny-final"],
  );
  // Same command again: the study is complete, nothing more runs.
  const again = hone(["--store", store, "tune", file, "--json"]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(jsonLines(again.stdout).filter((l) => l.kind === "trial-start").length, 0);
});

test("hone tune: kill -9 of the orchestrator during a 4-way parallel study, then the same command finishes it; every trial once", async () => {
  const dir = tempDir();
  const file = config(dir, "  sampler: random\n  trials: 8\n  parallel: 4\n  pruner: none\n", "epochs: 6");
  const store = join(dir, "store");
  const child = honeSpawn(["--store", store, "tune", file, "--json"]);
  let stdout = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", () => {});
  const deadline = Date.now() + 180_000;
  // Kill once one trial has finished and others are mid-flight.
  while (!stdout.includes('"kind":"trial-end"') && Date.now() < deadline) await sleep(100);
  assert.ok(stdout.includes('"kind":"trial-end"'), "no trial finished in time");
  // (Usually some engines run now; at times all are between trials.)
  const orphans = enginesOf(child.pid!);
  child.kill("SIGKILL");
  await new Promise((r) => child.once("close", r));
  const before = jsonLines(stdout).filter((l) => l.kind === "trial-end").length;
  assert.ok(before < 8, "the study finished before it could be killed");

  // At once: the orphaned engines are still saving their checkpoints, and each resume waits for
  // its run's engine to exit instead of refusing the run as in use.
  const r = hone(["--store", store, "tune", file, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  await enginesGone(orphans);
  const resumed = jsonLines(r.stdout).filter((l) => l.kind === "trial-start" && l.resumed === true);
  assert.ok(resumed.length > 0, "no running trial was continued from its checkpoint");

  const db = new Database(join(store, "hone.db"), { readonly: true });
  const trials = db.prepare("SELECT number, state, run_id FROM trials ORDER BY number").all() as { number: number; state: string; run_id: string }[];
  assert.deepEqual(
    trials.map((t) => t.number),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  assert.ok(
    trials.every((t) => t.state === "complete"),
    JSON.stringify(trials),
  );
  // One trained run per trial: none lost, none run twice.
  const runs = db.prepare("SELECT name, id, status FROM runs WHERE status = 'completed' ORDER BY name").all() as { name: string; id: string }[];
  db.close();
  assert.deepEqual(
    runs.map((x) => x.name),
    trials.map((t) => `tiny-t${t.number}`),
  );
  assert.deepEqual(runs.map((x) => x.id).sort(), trials.map((t) => t.run_id).sort());
});

const PG_URL = process.env.HONE_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";

test("hone tune worker: two workers share a PostgreSQL study; a killed worker's trial is requeued; no trial taken twice", async () => {
  const schema = `hone_test_${process.pid}_${Date.now() % 100000}`;
  const url = `${PG_URL}?schema=${schema}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    const dir = tempDir();
    const file = config(dir, "  sampler: random\n  trials: 5\n  pruner: none\n", "epochs: 8");
    const timing = ["--heartbeat", "1", "--stale-after", "4"];
    const a = honeSpawn(["--store", join(dir, "a"), "tune", file, "--storage", url, "--study", "shared", ...timing, "--json"]);
    let aOut = "";
    let aErr = "";
    a.stdout!.on("data", (d) => (aOut += d));
    a.stderr!.on("data", (d) => (aErr += d));
    const until = async (cond: () => boolean, what: string) => {
      const deadline = Date.now() + 120_000;
      while (!cond()) {
        if (Date.now() > deadline || a.exitCode !== null) assert.fail(`${what}; worker A: ${aErr.slice(-2000)}`);
        await sleep(100);
      }
    };
    await until(() => aOut.includes('"kind":"trial-start"'), "worker A started no trial");
    const b = honeSpawn(["--store", join(dir, "b"), "tune", "worker", "--storage", url, "--study", "shared", ...timing, "--json"]);
    let bOut = "";
    let bErr = "";
    b.stdout!.on("data", (d) => (bOut += d));
    b.stderr!.on("data", (d) => (bErr += d));
    // Kill worker A in the middle of its second trial.
    await until(() => jsonLines(aOut).filter((l) => l.kind === "trial-start").length >= 2, "worker A started no second trial");
    await sleep(1500);
    a.kill("SIGKILL");
    const aStarts = jsonLines(aOut)
      .filter((l) => l.kind === "trial-start")
      .map((l) => (l.trial as { number: number }).number);
    const killedTrial = aStarts.at(-1)!;
    const guard = setTimeout(() => b.kill("SIGKILL"), 180_000);
    const code = await new Promise((r) => b.once("close", r));
    clearTimeout(guard);
    assert.equal(code, 0, bErr);

    await admin.query(`SET search_path TO ${schema}`);
    const trials = (await admin.query("SELECT number, state, worker FROM trials ORDER BY number")).rows;
    assert.deepEqual(
      trials.map((t) => t.number),
      [0, 1, 2, 3, 4],
    );
    assert.ok(
      trials.every((t) => t.state === "complete"),
      JSON.stringify(trials),
    );
    const events = (await admin.query("SELECT t.number, a.worker, a.event FROM trial_assignments a JOIN trials t ON t.id = a.trial_id ORDER BY a.seq"))
      .rows as { number: number; worker: string; event: string }[];
    // Per trial, claims alternate with requeues: never held by two workers at once.
    for (const n of [0, 1, 2, 3, 4]) {
      let holder: string | null = null;
      for (const e of events.filter((x) => x.number === n)) {
        if (e.event === "claimed") {
          assert.equal(holder, null, `trial ${n} claimed by ${e.worker} while ${holder} held it`);
          holder = e.worker;
        } else if (e.event === "requeued" || e.event === "released") holder = null;
        else if (e.event === "complete") assert.equal(e.worker, holder);
      }
    }
    const killed = events.filter((e) => e.number === killedTrial).map((e) => e.event);
    assert.deepEqual(killed, ["claimed", "requeued", "claimed", "complete"], `trial ${killedTrial}: ${killed.join(", ")}`);
    const workers = new Set(events.filter((e) => e.event === "complete").map((e) => e.worker));
    assert.equal(workers.size, 2, "both workers should have completed trials");
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end();
  }
});

test("hone tune: a bad search space is a clear error with its line, no stack trace, exit code 2", () => {
  const dir = tempDir();
  const file = join(dir, "bad.yaml");
  writeFileSync(
    file,
    `data: { train: ${EXAMPLE_DATA} }\ntune:\n  space:\n    train.lr: loguniform(0, 1e-3)\n    train.batch_size: choice()\n    model.dropuot: uniform(0, 0.3)\n`,
  );
  const r = hone(["--store", join(dir, "s"), "tune", file]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.yaml:4 tune\.space\.train\.lr: a log range needs low > 0/);
  assert.match(r.stderr, /bad\.yaml:5 tune\.space\.train\.batch_size: choice\(\) needs at least one value/);
  assert.match(r.stderr, /bad\.yaml:6 tune\.space\.model\.dropuot: unknown config path/);
  assert.match(r.stderr, /did you mean "model\.dropout"/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
});
