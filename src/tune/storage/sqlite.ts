// Studies in the run store's SQLite file. One orchestrator process writes (better-sqlite3 is
// synchronous, so each method is one atomic transaction).
import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { RunStore } from "../../store/store.js";
import { HoneError } from "../../util/errors.js";
import { sameDefinition, type ClaimOptions, type FinishResult, type StudyDefinition, type StudyRow, type StudyStorage, type TrialRow } from "./types.js";

type Row = Record<string, unknown>;

export function trialOf(r: Row, intermediate: { resource: number; value: number }[]): TrialRow {
  const json = (v: unknown) => (typeof v === "string" ? JSON.parse(v) : null);
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    id: Number(r.id),
    number: Number(r.number),
    state: r.state as TrialRow["state"],
    params: json(r.params_json) ?? {},
    values: json(r.values_json),
    intermediate,
    runId: (r.run_id as string | null) ?? null,
    worker: (r.worker as string | null) ?? null,
    attempts: Number(r.attempts),
    error: (r.error as string | null) ?? null,
    seconds: num(r.seconds),
    epochs: num(r.epochs),
    startedAt: num(r.started_at),
    finishedAt: num(r.finished_at),
  };
}

export function studyOf(r: Row): StudyRow {
  return { id: r.id as string, name: r.name as string, definition: JSON.parse(r.definition_json as string), createdAt: String(r.created_at) };
}

export function newStudyId(): string {
  return `s-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
}

export function definitionMismatch(name: string, where: string): HoneError {
  return new HoneError("usage", `study "${name}" in ${where} was made with a different search space, objective, sampler or seed`, [
    {
      message: "resuming it would mix trials of two different searches",
      hint: "give this search its own name with --study <name>, or restore the study's config",
    },
  ]);
}

export class SqliteStudyStorage implements StudyStorage {
  readonly kind = "sqlite" as const;
  readonly where: string;
  private db: Database.Database;

  constructor(storeDir: string) {
    new RunStore(storeDir).close(); // creates the file and runs the migrations
    this.where = join(storeDir, "hone.db");
    this.db = new Database(this.where);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("foreign_keys = ON");
    this.db.pragma("busy_timeout = 5000");
  }

  async openStudy(name: string, definition: StudyDefinition | null): Promise<StudyRow> {
    const r = this.db.prepare("SELECT * FROM studies WHERE name = ?").get(name) as Row | undefined;
    if (r) {
      const study = studyOf(r);
      if (definition && !sameDefinition(study.definition, definition)) throw definitionMismatch(name, this.where);
      return study;
    }
    if (!definition)
      throw new HoneError("usage", `no study "${name}" in ${this.where}`, [
        { message: "see the studies with: hone tune list", hint: "start it with: hone tune <config>" },
      ]);
    const id = newStudyId();
    this.db
      .prepare("INSERT INTO studies (id, name, definition_json, created_at) VALUES (?, ?, ?, ?)")
      .run(id, name, JSON.stringify(definition), new Date().toISOString());
    return studyOf(this.db.prepare("SELECT * FROM studies WHERE id = ?").get(id) as Row);
  }

  async listStudies(): Promise<StudyRow[]> {
    return (this.db.prepare("SELECT * FROM studies ORDER BY created_at").all() as Row[]).map(studyOf);
  }

  private trialsSync(studyId: string): TrialRow[] {
    const rows = this.db.prepare("SELECT * FROM trials WHERE study_id = ? ORDER BY number").all(studyId) as Row[];
    const inter = this.db
      .prepare("SELECT i.trial_id, i.resource, i.value FROM trial_intermediate i JOIN trials t ON t.id = i.trial_id WHERE t.study_id = ? ORDER BY i.resource")
      .all(studyId) as { trial_id: number; resource: number; value: number }[];
    const by = new Map<number, { resource: number; value: number }[]>();
    for (const i of inter) by.set(i.trial_id, [...(by.get(i.trial_id) ?? []), { resource: i.resource, value: i.value }]);
    return rows.map((r) => trialOf(r, by.get(Number(r.id)) ?? []));
  }

  async trials(studyId: string): Promise<TrialRow[]> {
    return this.trialsSync(studyId);
  }

  async claim(studyId: string, worker: string, opts: ClaimOptions): Promise<TrialRow | null> {
    const now = Date.now();
    const log = this.db.prepare("INSERT INTO trial_assignments (trial_id, worker, at, event) VALUES (?, ?, ?, ?)");
    return this.db.transaction((): TrialRow | null => {
      const stale = opts.requeueAllRunning
        ? (this.db.prepare("SELECT id, worker FROM trials WHERE study_id = ? AND state = 'running'").all(studyId) as Row[])
        : (this.db
            .prepare("SELECT id, worker FROM trials WHERE study_id = ? AND state = 'running' AND heartbeat_at < ?")
            .all(studyId, now - opts.staleMs) as Row[]);
      for (const s of stale) {
        this.db.prepare("UPDATE trials SET state = 'waiting', worker = NULL WHERE id = ?").run(s.id);
        log.run(s.id, String(s.worker ?? "?"), now, "requeued");
      }
      const waiting = this.db.prepare("SELECT id FROM trials WHERE study_id = ? AND state = 'waiting' ORDER BY number LIMIT 1").get(studyId) as Row | undefined;
      let id: number;
      if (waiting) {
        id = Number(waiting.id);
        this.db.prepare("UPDATE trials SET state = 'running', worker = ?, heartbeat_at = ?, started_at = ? WHERE id = ?").run(worker, now, now, id);
      } else {
        const history = this.trialsSync(studyId);
        if (history.length >= opts.maxTrials) return null;
        const number = history.length === 0 ? 0 : Math.max(...history.map((t) => t.number)) + 1;
        const params = opts.propose(history, number);
        id = Number(
          this.db
            .prepare("INSERT INTO trials (study_id, number, state, params_json, worker, heartbeat_at, started_at) VALUES (?, ?, 'running', ?, ?, ?, ?)")
            .run(studyId, number, JSON.stringify(params), worker, now, now).lastInsertRowid,
        );
      }
      log.run(id, worker, now, "claimed");
      return this.trialsSync(studyId).find((t) => t.id === id)!;
    })();
  }

  async heartbeat(trialIds: number[], worker: string): Promise<void> {
    const stmt = this.db.prepare("UPDATE trials SET heartbeat_at = ? WHERE id = ? AND worker = ? AND state = 'running'");
    const now = Date.now();
    this.db.transaction(() => trialIds.forEach((id) => stmt.run(now, id, worker)))();
  }

  async setRun(trialId: number, worker: string, runId: string): Promise<void> {
    this.db.prepare("UPDATE trials SET run_id = ? WHERE id = ? AND worker = ?").run(runId, trialId, worker);
  }

  async report(trialId: number, resource: number, value: number): Promise<void> {
    this.db.prepare("INSERT OR REPLACE INTO trial_intermediate (trial_id, resource, value) VALUES (?, ?, ?)").run(trialId, resource, value);
  }

  async finish(trialId: number, worker: string, r: FinishResult): Promise<boolean> {
    const res = this.db
      .prepare(
        "UPDATE trials SET state = ?, values_json = ?, error = ?, seconds = ?, epochs = ?, finished_at = ? WHERE id = ? AND worker = ? AND state = 'running'",
      )
      .run(r.state, r.values ? JSON.stringify(r.values) : null, r.error, r.seconds, r.epochs, Date.now(), trialId, worker);
    if (res.changes > 0)
      this.db.prepare("INSERT INTO trial_assignments (trial_id, worker, at, event) VALUES (?, ?, ?, ?)").run(trialId, worker, Date.now(), r.state);
    return res.changes > 0;
  }

  async release(trialId: number, worker: string, opts: { error: string | null; countAttempt: boolean }): Promise<void> {
    this.db
      .prepare("UPDATE trials SET state = 'waiting', worker = NULL, error = ?, attempts = attempts + ? WHERE id = ? AND worker = ? AND state = 'running'")
      .run(opts.error, opts.countAttempt ? 1 : 0, trialId, worker);
    this.db.prepare("INSERT INTO trial_assignments (trial_id, worker, at, event) VALUES (?, ?, ?, ?)").run(trialId, worker, Date.now(), "released");
  }

  async assignments(studyId: string) {
    return this.db
      .prepare("SELECT t.number, a.worker, a.at, a.event FROM trial_assignments a JOIN trials t ON t.id = a.trial_id WHERE t.study_id = ? ORDER BY a.rowid")
      .all(studyId) as { number: number; worker: string; at: number; event: string }[];
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
