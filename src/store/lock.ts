// A run's lock: runs/<id>/lock names the process that works on the run (and its engine, while
// one runs). A second `hone train --resume` of a live run is refused; a lock whose processes are
// gone is taken over; a run marked running whose lock is dead was interrupted.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { HoneError } from "../util/errors.js";
import { writeJsonAtomic } from "../util/fs.js";

interface Proc {
  pid: number;
  /** Start time of the process (Linux: /proc/<pid>/stat field 22), so a reused pid is not mistaken for it. */
  start: string | null;
}

export interface LockOwner extends Proc {
  host: string;
  command: string;
  since: string;
  engine: Proc | null;
}

const lockPath = (runDir: string) => join(runDir, "lock");

function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function alive(p: Proc): boolean {
  try {
    process.kill(p.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const start = processStart(p.pid);
  return p.start === null || start === null || start === p.start;
}

/** This process, as a lock names it. */
export const thisProcess = (): Proc => ({ pid: process.pid, start: processStart(process.pid) });

/** A pid file's process still runs: `{pid, start}`, or an older Hone's bare pid, which counts only
 * while that pid runs the hone CLI (a reused pid is some other program). */
export function pidFileAlive(text: string): number | null {
  let p: Proc;
  try {
    const parsed = JSON.parse(text) as Proc | number;
    p = typeof parsed === "number" ? { pid: parsed, start: null } : parsed;
  } catch {
    return null;
  }
  if (!Number.isInteger(p.pid) || p.pid === process.pid || !alive(p)) return null;
  if (p.start === null) {
    try {
      if (!readFileSync(`/proc/${p.pid}/cmdline`, "utf8").includes("bin/hone")) return null;
    } catch {
      // no /proc (not Linux): trust the pid
    }
  }
  return p.pid;
}

export function readLock(runDir: string): LockOwner | null {
  try {
    return JSON.parse(readFileSync(lockPath(runDir), "utf8")) as LockOwner;
  } catch {
    return null; // none, or half-written by a process that died: not a live owner
  }
}

/** The lock's owner if it (or its engine) still runs; another host's lock counts as live. */
export function liveOwner(runDir: string): LockOwner | null {
  const o = readLock(runDir);
  if (!o) return null;
  if (o.host !== hostname()) return o;
  return alive(o) || (o.engine !== null && alive(o.engine)) ? o : null;
}

/** The engine left working on a run whose process died (kill -9 of `hone train` or `hone tune`):
 * it notices its closed stdin, saves a checkpoint and exits by itself. A resume waits for that
 * rather than refusing; a live owner, another host's lock or a timeout leave the decision to
 * RunLock.acquire. */
export async function orphanedEngineGone(runDir: string, timeoutMs: number, onWait: (enginePid: number) => void): Promise<void> {
  const until = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    const o = readLock(runDir);
    if (!o || o.host !== hostname() || alive(o) || o.engine === null || !alive(o.engine) || Date.now() > until) return;
    if (!told) onWait(o.engine.pid);
    told = true;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export const describeOwner = (o: LockOwner) =>
  `process ${o.pid}${o.host !== hostname() ? ` on ${o.host}` : ""} (${o.command}, since ${o.since.slice(0, 19).replace("T", " ")})${o.engine ? `, engine process ${o.engine.pid}` : ""}`;

export class RunLock {
  private owner: LockOwner;
  private released = false;

  private constructor(
    readonly runDir: string,
    owner: LockOwner,
  ) {
    this.owner = owner;
  }

  /** Take the run's lock, or refuse (exit 2) while a live process holds it. */
  static acquire(runId: string, runDir: string, command: string): RunLock {
    const me: LockOwner = { pid: process.pid, start: processStart(process.pid), host: hostname(), command, since: new Date().toISOString(), engine: null };
    const path = lockPath(runDir);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(path, JSON.stringify(me), { flag: "wx" });
        return new RunLock(runDir, me);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST")
          throw new HoneError("store", `cannot lock run ${runId}`, [{ file: path, message: (e as Error).message }]);
      }
      const holder = liveOwner(runDir);
      if (holder) {
        throw new HoneError("usage", `run ${runId} is in use by ${describeOwner(holder)}`, [
          {
            file: path,
            message: "one process at a time works on a run",
            hint:
              holder.host === hostname() ? "wait for it to finish, or stop it (Ctrl-C) and resume then" : `if that machine no longer runs it, delete ${path}`,
          },
        ]);
      }
      // A dead owner's lock goes, unless another process replaced it since we read it.
      const read = () => (existsSync(path) ? readFileSync(path, "utf8") : null);
      const stale = read();
      if (stale !== null && read() === stale) rmSync(path, { force: true });
    }
    throw new HoneError("usage", `run ${runId} was just taken over by another process`, [
      { file: path, message: "two processes tried to resume it at once", hint: "let the other one work" },
    ]);
  }

  /** The engine process works for us: the run stays live while it finishes, even if we die. */
  setEngine(pid: number | null): void {
    if (this.released) return;
    this.owner = { ...this.owner, engine: pid === null ? null : { pid, start: processStart(pid) } };
    writeJsonAtomic(lockPath(this.runDir), this.owner);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const o = readLock(this.runDir);
    if (o && o.pid === this.owner.pid && o.since === this.owner.since) rmSync(lockPath(this.runDir), { force: true });
  }
}
