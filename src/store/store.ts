// The run store: one SQLite file with runs, resolved configs, metric series, artifacts
// (with sha256) and lineage. The orchestrator is its only writer; the engine writes files
// into the run directory and reports them as events.
import Database from "better-sqlite3";
import { mkdirSync, existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { HoneError } from "../util/errors.js";
import { liveOwner, RunLock } from "./lock.js";
import { sha256File } from "../util/fs.js";

export type RunStatus = "created" | "running" | "interrupted" | "failed" | "completed";

export interface RunRecord {
  id: string;
  name: string | null;
  task: string;
  status: RunStatus;
  created_at: string;
  updated_at: string;
  run_dir: string;
  config: unknown;
  plan: unknown;
  data_hash: string | null;
  best_step: number | null;
  best_value: number | null;
  test_metrics: Record<string, unknown> | null;
  error: string | null;
}

export interface MetricPoint {
  step: number;
  split: string;
  name: string;
  value: number;
}

const MIGRATIONS = [
  `CREATE TABLE runs (
     id TEXT PRIMARY KEY, name TEXT, task TEXT NOT NULL, status TEXT NOT NULL,
     created_at TEXT NOT NULL, updated_at TEXT NOT NULL, run_dir TEXT NOT NULL,
     config_json TEXT NOT NULL, plan_json TEXT, data_hash TEXT,
     best_step INTEGER, best_value REAL, test_metrics_json TEXT, error TEXT);
   CREATE INDEX runs_name ON runs(name);
   CREATE TABLE metrics (
     run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, step INTEGER NOT NULL,
     split TEXT NOT NULL, name TEXT NOT NULL, value REAL, recorded_at TEXT NOT NULL,
     PRIMARY KEY (run_id, split, name, step));
   CREATE TABLE artifacts (
     run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, kind TEXT NOT NULL,
     path TEXT NOT NULL, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, created_at TEXT NOT NULL,
     PRIMARY KEY (run_id, path));
   CREATE TABLE lineage (
     run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, parent_id TEXT NOT NULL,
     relation TEXT NOT NULL, PRIMARY KEY (run_id, parent_id, relation));`,
  // Hyperparameter search (src/tune/storage/sqlite.ts). Times in ms since the epoch.
  `CREATE TABLE studies (
     id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, definition_json TEXT NOT NULL, created_at TEXT NOT NULL);
   CREATE TABLE trials (
     id INTEGER PRIMARY KEY AUTOINCREMENT, study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
     number INTEGER NOT NULL, state TEXT NOT NULL, params_json TEXT NOT NULL, values_json TEXT,
     run_id TEXT, worker TEXT, heartbeat_at INTEGER, attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
     started_at INTEGER, finished_at INTEGER, seconds REAL, epochs REAL, UNIQUE (study_id, number));
   CREATE TABLE trial_intermediate (
     trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE, resource REAL NOT NULL,
     value REAL NOT NULL, PRIMARY KEY (trial_id, resource));
   CREATE TABLE trial_assignments (
     trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE, worker TEXT NOT NULL, at INTEGER NOT NULL, event TEXT NOT NULL);`,
];

export function storeDir(explicit?: string): string {
  return resolve(explicit ?? process.env.HONE_STORE ?? ".hone");
}

function now(): string {
  return new Date().toISOString();
}

export function newRunId(): string {
  const t = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return `${t.slice(0, 8)}-${t.slice(8)}-${randomBytes(2).toString("hex")}`;
}

export class RunStore {
  readonly dir: string;
  private db!: Database.Database;

  constructor(dir: string) {
    this.dir = dir;
    try {
      mkdirSync(join(dir, "runs"), { recursive: true });
    } catch (e) {
      throw storeError(e, `cannot create the run store in ${dir}`, dir);
    }
    const file = join(dir, "hone.db");
    try {
      this.db = new Database(file);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("foreign_keys = ON");
      this.db.pragma("busy_timeout = 5000");
      const version = this.db.pragma("user_version", { simple: true }) as number;
      const tables = (this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
      if (version === 0 && tables.length > 0)
        throw new HoneError("store", `${file} is not a Hone run store`, [
          { file, message: `an SQLite database with other tables (${tables.slice(0, 5).join(", ")})`, hint: "point --store / HONE_STORE at another directory" },
        ]);
      if (version > MIGRATIONS.length)
        throw new HoneError("store", `${file} was written by a newer Hone`, [
          { file, message: `store version ${version}, this Hone knows up to ${MIGRATIONS.length}`, hint: "upgrade Hone" },
        ]);
      for (let v = version; v < MIGRATIONS.length; v++) {
        this.db.transaction(() => {
          this.db.exec(MIGRATIONS[v]!);
          this.db.pragma(`user_version = ${v + 1}`);
        })();
      }
    } catch (e) {
      throw storeError(e, `cannot open the run store in ${dir}`, file);
    }
  }

  close(): void {
    this.db.close();
  }

  createRun(task: string, name: string | null, config: unknown): RunRecord {
    return this.createLockedRun(task, name, config, "").run;
  }

  /** A new run, locked by this process before anyone can see it (so it is never taken for dead). */
  createLockedRun(task: string, name: string | null, config: unknown, command: string): { run: RunRecord; lock: RunLock } {
    const id = newRunId();
    const runDir = join(this.dir, "runs", id);
    const lock = this.guard(() => {
      mkdirSync(runDir, { recursive: true });
      return RunLock.acquire(id, runDir, command);
    });
    const t = now();
    this.guard(() =>
      this.db
        .prepare(`INSERT INTO runs (id, name, task, status, created_at, updated_at, run_dir, config_json) VALUES (?, ?, ?, 'created', ?, ?, ?, ?)`)
        .run(id, name, task, t, t, runDir, JSON.stringify(config)),
    );
    return { run: this.getRun(id), lock };
  }

  /** Lock an existing run for this process (resume); refused while a live process holds it. */
  lockRun(run: RunRecord, command: string): RunLock {
    return this.guard(() => RunLock.acquire(run.id, run.run_dir, command));
  }

  /** Every database call goes through here: a full disk or a broken file is the store's error (exit 5), not a crash. */
  private guard<T>(work: () => T): T {
    try {
      return work();
    } catch (e) {
      throw storeError(e, "the run store failed", join(this.dir, "hone.db"));
    }
  }

  update(
    id: string,
    fields: Partial<Pick<RunRecord, "status" | "plan" | "data_hash" | "best_step" | "best_value" | "test_metrics" | "error" | "config">>,
  ): void {
    const cols: string[] = [];
    const vals: unknown[] = [];
    for (const [k, v] of Object.entries(fields)) {
      const col = k === "plan" ? "plan_json" : k === "test_metrics" ? "test_metrics_json" : k === "config" ? "config_json" : k;
      cols.push(`${col} = ?`);
      vals.push(k === "plan" || k === "test_metrics" || k === "config" ? (v === null ? null : JSON.stringify(v)) : v);
    }
    cols.push("updated_at = ?");
    vals.push(now(), id);
    this.guard(() => this.db.prepare(`UPDATE runs SET ${cols.join(", ")} WHERE id = ?`).run(...vals));
  }

  private row(r: Record<string, unknown>): RunRecord {
    const json = (s: unknown) => (typeof s === "string" ? JSON.parse(s) : null);
    if ((r.status === "running" || r.status === "created") && !liveOwner(r.run_dir as string)) {
      // Its process died without a word (kill -9, power loss): it is resumable, not running.
      const error = "its process stopped without recording why (killed?); resume it with hone train --resume";
      this.guard(() =>
        this.db.prepare("UPDATE runs SET status = 'interrupted', error = ?, updated_at = ? WHERE id = ? AND status = ?").run(error, now(), r.id, r.status),
      );
      r = { ...r, status: "interrupted", error };
    }
    return {
      id: r.id as string,
      name: (r.name as string | null) ?? null,
      task: r.task as string,
      status: r.status as RunStatus,
      created_at: r.created_at as string,
      updated_at: r.updated_at as string,
      run_dir: r.run_dir as string,
      config: json(r.config_json),
      plan: json(r.plan_json),
      data_hash: (r.data_hash as string | null) ?? null,
      best_step: (r.best_step as number | null) ?? null,
      best_value: (r.best_value as number | null) ?? null,
      test_metrics: json(r.test_metrics_json),
      error: (r.error as string | null) ?? null,
    };
  }

  getRun(id: string): RunRecord {
    const r = this.guard(() => this.db.prepare("SELECT * FROM runs WHERE id = ?").get(id)) as Record<string, unknown> | undefined;
    if (!r) throw new HoneError("store", `no run ${id}`);
    return this.row(r);
  }

  /** Find a run by id, unique id prefix, or name (the latest run of that name); "last" = newest. */
  findRun(ref: string): RunRecord {
    const q = (sql: string, ...args: unknown[]) => this.guard(() => this.db.prepare(sql).all(...args)) as Record<string, unknown>[];
    let rows = ref === "last" ? q("SELECT * FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1") : q("SELECT * FROM runs WHERE id = ?", ref);
    if (rows.length === 0) rows = q("SELECT * FROM runs WHERE name = ? ORDER BY created_at DESC, rowid DESC LIMIT 1", ref);
    // A prefix of an id, compared as text: % and _ are characters, not patterns.
    if (rows.length === 0 && ref !== "") rows = q("SELECT * FROM runs WHERE substr(id, 1, length(?)) = ? ORDER BY id", ref, ref);
    if (rows.length === 1) return this.row(rows[0]!);
    if (rows.length > 1) {
      throw new HoneError("usage", `"${ref}" matches ${rows.length} runs`, [
        {
          message: rows
            .slice(0, 5)
            .map((r) => String(r.id))
            .join(", "),
          hint: "give more of the id",
        },
      ]);
    }
    throw new HoneError("usage", `no run "${ref}" in ${this.dir}`, [
      { message: "see the runs with: hone runs", hint: "or point at another store with --store / HONE_STORE" },
    ]);
  }

  listRuns(limit = 50): RunRecord[] {
    return (this.guard(() => this.db.prepare("SELECT * FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?").all(limit)) as Record<string, unknown>[]).map(
      (r) => this.row(r),
    );
  }

  logMetrics(runId: string, step: number, split: string, values: Record<string, number | null>): void {
    this.guard(() => {
      const stmt = this.db.prepare("INSERT OR REPLACE INTO metrics (run_id, step, split, name, value, recorded_at) VALUES (?, ?, ?, ?, ?, ?)");
      const t = now();
      this.db.transaction(() => {
        for (const [name, value] of Object.entries(values)) stmt.run(runId, step, split, name, value === null || !Number.isFinite(value) ? null : value, t);
      })();
    });
  }

  /** After a resume from step N, points recorded past N by the interrupted attempt are dropped. */
  truncateMetrics(runId: string, afterStep: number): void {
    this.guard(() => this.db.prepare("DELETE FROM metrics WHERE run_id = ? AND step > ? AND split IN ('train', 'validation')").run(runId, afterStep));
  }

  metrics(runId: string, split?: string): MetricPoint[] {
    const rows = this.guard(() =>
      split
        ? this.db.prepare("SELECT step, split, name, value FROM metrics WHERE run_id = ? AND split = ? ORDER BY step").all(runId, split)
        : this.db.prepare("SELECT step, split, name, value FROM metrics WHERE run_id = ? ORDER BY split, step").all(runId),
    );
    return rows as MetricPoint[];
  }

  async addArtifact(runId: string, kind: string, path: string): Promise<void> {
    if (!existsSync(path)) return;
    const digest = await sha256File(path);
    this.guard(() =>
      this.db
        .prepare("INSERT OR REPLACE INTO artifacts (run_id, kind, path, sha256, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .run(runId, kind, path, digest, statSync(path).size, now()),
    );
  }

  removeArtifactsUnder(runId: string, prefix: string): void {
    this.guard(() => this.db.prepare("DELETE FROM artifacts WHERE run_id = ? AND substr(path, 1, length(?)) = ?").run(runId, prefix, prefix));
  }

  artifacts(runId: string): { kind: string; path: string; sha256: string; bytes: number }[] {
    return this.guard(() => this.db.prepare("SELECT kind, path, sha256, bytes FROM artifacts WHERE run_id = ? ORDER BY kind, path").all(runId)) as {
      kind: string;
      path: string;
      sha256: string;
      bytes: number;
    }[];
  }

  addLineage(runId: string, parentId: string, relation: string): void {
    this.guard(() => this.db.prepare("INSERT OR IGNORE INTO lineage (run_id, parent_id, relation) VALUES (?, ?, ?)").run(runId, parentId, relation));
  }

  lineage(runId: string): { parent_id: string; relation: string }[] {
    return this.guard(() => this.db.prepare("SELECT parent_id, relation FROM lineage WHERE run_id = ?").all(runId)) as {
      parent_id: string;
      relation: string;
    }[];
  }
}

/** A failure of the store's disk or file as a HoneError (exit 5); HoneErrors pass through. */
export function storeError(e: unknown, message: string, file: string): HoneError {
  if (e instanceof HoneError) return e;
  const err = e as { code?: string; message?: string };
  const code = err.code ?? "";
  const why =
    code === "SQLITE_FULL" || code === "ENOSPC"
      ? "the disk is full"
      : code === "SQLITE_NOTADB"
        ? "the file is not an SQLite database"
        : code.startsWith("SQLITE_READONLY") || code === "EROFS" || code === "EACCES" || code === "EPERM"
          ? "it cannot be written (permissions or a read-only disk)"
          : code.startsWith("SQLITE_CORRUPT")
            ? "the database file is damaged"
            : (err.message ?? String(e));
  const hint =
    code === "SQLITE_FULL" || code === "ENOSPC"
      ? "free some space and run the command again: nothing finished was lost"
      : code === "SQLITE_NOTADB"
        ? "point --store / HONE_STORE at a Hone store directory"
        : "check the store directory (--store / HONE_STORE)";
  return new HoneError("store", `${message}: ${why}`, [{ file, message: `${code || "error"}: ${err.message ?? String(e)}`, hint }]);
}
