import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { RunLock, orphanedEngineGone, pidFileAlive, thisProcess } from "./lock.js";
import { HoneError } from "../util/errors.js";
import { tempDir } from "../testing/fixtures.js";

/** A lock left by a killed `hone train`: its owner is gone, its engine (here a sleep) lives on. */
function orphanLock(dir: string, enginePid: number): void {
  const owner = { pid: 2 ** 22 + 7, start: null, host: hostname(), command: "hone train", since: new Date().toISOString() };
  writeFileSync(join(dir, "lock"), JSON.stringify({ ...owner, engine: { pid: enginePid, start: null } }));
}

test("a run whose orphaned engine still runs is refused as in use; a resume waits for that engine to exit, then takes the run", async () => {
  const dir = tempDir();
  const engine = spawn("sleep", ["1.5"]);
  orphanLock(dir, engine.pid!);
  assert.throws(
    () => RunLock.acquire("r1", dir, "hone train --resume"),
    (e) => e instanceof HoneError && e.kind === "usage" && /engine process/.test(e.message),
  );
  const waited: number[] = [];
  const t0 = Date.now();
  await orphanedEngineGone(dir, 30_000, (pid) => waited.push(pid));
  assert.deepEqual(waited, [engine.pid]); // told once, with the engine's pid
  assert.ok(Date.now() - t0 >= 1000, "returned before the engine exited");
  RunLock.acquire("r1", dir, "hone train --resume").release();
});

test("the wait is bounded, and skipped where the owner itself lives or no lock exists", async () => {
  const dir = tempDir();
  await orphanedEngineGone(dir, 30_000, () => assert.fail("no lock: nothing to wait for"));
  const engine = spawn("sleep", ["30"]);
  try {
    orphanLock(dir, engine.pid!);
    const t0 = Date.now();
    await orphanedEngineGone(dir, 300, () => {});
    assert.ok(Date.now() - t0 < 5000);
    const live = RunLock.acquire("r2", tempDir(), "hone train");
    await orphanedEngineGone(live.runDir, 30_000, () => assert.fail("a live owner decides for itself"));
    live.release();
  } finally {
    engine.kill();
  }
});

test("a study's pid file: a live process with its start time counts; a reused pid or an older Hone's bare pid of another program does not", async () => {
  const child = spawn("sleep", ["30"]);
  try {
    await new Promise((res) => child.once("spawn", res));
    const pid = child.pid!;
    const start = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[19]!;
    assert.equal(pidFileAlive(JSON.stringify({ pid, start })), pid);
    assert.equal(pidFileAlive(JSON.stringify({ pid, start: `${start}1` })), null, "the pid now belongs to a process that started later");
    assert.equal(pidFileAlive(String(pid)), null, "a bare pid counts only while it runs the hone CLI");
    assert.equal(pidFileAlive(JSON.stringify(thisProcess())), null, "this process is not another orchestrator");
    assert.equal(pidFileAlive("not a pid"), null);
  } finally {
    child.kill("SIGKILL");
  }
});
