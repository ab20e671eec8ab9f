// Studies in PostgreSQL, for workers on several machines (`hone tune worker --storage
// postgres://...`). Claims take a transaction-scoped advisory lock per study, so two workers
// never create or take the same trial; times come from the server's clock, so hosts with
// skewed clocks still agree on which heartbeat is stale. `?schema=name` picks a schema.
import pg from "pg";
import { HoneError } from "../../util/errors.js";
import { definitionMismatch, newStudyId, studyOf, trialOf } from "./sqlite.js";
import { sameDefinition, type ClaimOptions, type FinishResult, type StudyDefinition, type StudyRow, type StudyStorage, type TrialRow } from "./types.js";

const NOW_MS = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint";

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS studies (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, definition_json TEXT NOT NULL, created_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS trials (
    id BIGSERIAL PRIMARY KEY, study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    number INTEGER NOT NULL, state TEXT NOT NULL, params_json TEXT NOT NULL, values_json TEXT,
    run_id TEXT, worker TEXT, heartbeat_at BIGINT, attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
    started_at BIGINT, finished_at BIGINT, seconds DOUBLE PRECISION, epochs DOUBLE PRECISION, UNIQUE (study_id, number));
  CREATE TABLE IF NOT EXISTS trial_intermediate (
    trial_id BIGINT NOT NULL REFERENCES trials(id) ON DELETE CASCADE, resource DOUBLE PRECISION NOT NULL,
    value DOUBLE PRECISION NOT NULL, PRIMARY KEY (trial_id, resource));
  CREATE TABLE IF NOT EXISTS trial_assignments (
    seq BIGSERIAL PRIMARY KEY, trial_id BIGINT NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    worker TEXT NOT NULL, at BIGINT NOT NULL, event TEXT NOT NULL);`;

type Client = pg.PoolClient;

export class PostgresStudyStorage implements StudyStorage {
  readonly kind = "postgres" as const;
  readonly where: string;
  private pool: pg.Pool;
  private ready: Promise<void>;

  constructor(url: string) {
    const u = new URL(url);
    const schema = u.searchParams.get("schema");
    u.searchParams.delete("schema");
    if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
      throw new HoneError("usage", `bad schema name "${schema}" in the storage URL`, [
        { message: "lower-case letters, digits and _", hint: "e.g. ?schema=hone" },
      ]);
    u.password = u.password ? "***" : "";
    this.where = u.toString();
    const clean = new URL(url);
    clean.searchParams.delete("schema");
    this.pool = new pg.Pool({ connectionString: clean.toString(), max: 3 });
    this.pool.on("error", () => {}); // an idle client lost: the next query reconnects
    if (schema) this.pool.on("connect", (c) => void c.query(`SET search_path TO ${schema}`));
    this.ready = (async () => {
      const c = await this.connect();
      try {
        await c.query("BEGIN");
        await c.query("SELECT pg_advisory_xact_lock(7242195)"); // two workers creating the tables at once
        if (schema) {
          await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
          await c.query(`SET search_path TO ${schema}`);
        }
        await c.query(SCHEMA);
        await c.query("COMMIT");
      } catch (e) {
        await c.query("ROLLBACK").catch(() => {});
        throw e;
      } finally {
        c.release();
      }
    })();
    this.ready.catch(() => {});
  }

  private async connect(): Promise<Client> {
    try {
      return await this.pool.connect();
    } catch (e) {
      throw new HoneError("store", `cannot reach the study storage ${this.where}`, [
        { message: (e as Error).message, hint: "check the URL, that the server runs, and the credentials" },
      ]);
    }
  }

  private async tx<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    await this.ready;
    const c = await this.connect();
    try {
      await c.query("BEGIN");
      const out = await fn(c);
      await c.query("COMMIT");
      return out;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      c.release();
    }
  }

  private async q(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    await this.ready;
    return this.pool.query(sql, params);
  }

  async openStudy(name: string, definition: StudyDefinition | null): Promise<StudyRow> {
    return this.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`study:${name}`]);
      const r = (await c.query("SELECT * FROM studies WHERE name = $1", [name])).rows[0];
      if (r) {
        const study = studyOf(r);
        if (definition && !sameDefinition(study.definition, definition)) throw definitionMismatch(name, this.where);
        return study;
      }
      if (!definition)
        throw new HoneError("usage", `no study "${name}" in ${this.where}`, [
          { message: "a worker joins a study that `hone tune <config> --storage ...` created", hint: "start the study first, or check --study" },
        ]);
      const id = newStudyId();
      await c.query("INSERT INTO studies (id, name, definition_json, created_at) VALUES ($1, $2, $3, $4)", [
        id,
        name,
        JSON.stringify(definition),
        new Date().toISOString(),
      ]);
      return studyOf((await c.query("SELECT * FROM studies WHERE id = $1", [id])).rows[0]);
    });
  }

  async listStudies(): Promise<StudyRow[]> {
    return (await this.q("SELECT * FROM studies ORDER BY created_at")).rows.map(studyOf);
  }

  private async trialsWith(c: Pick<Client, "query">, studyId: string): Promise<TrialRow[]> {
    const rows = (await c.query("SELECT * FROM trials WHERE study_id = $1 ORDER BY number", [studyId])).rows;
    const inter = (
      await c.query(
        "SELECT i.trial_id, i.resource, i.value FROM trial_intermediate i JOIN trials t ON t.id = i.trial_id WHERE t.study_id = $1 ORDER BY i.resource",
        [studyId],
      )
    ).rows as { trial_id: string; resource: number; value: number }[];
    const by = new Map<number, { resource: number; value: number }[]>();
    for (const i of inter) by.set(Number(i.trial_id), [...(by.get(Number(i.trial_id)) ?? []), { resource: i.resource, value: i.value }]);
    return rows.map((r) => trialOf(r, by.get(Number(r.id)) ?? []));
  }

  async trials(studyId: string): Promise<TrialRow[]> {
    await this.ready;
    return this.trialsWith(this.pool, studyId);
  }

  async claim(studyId: string, worker: string, opts: ClaimOptions): Promise<TrialRow | null> {
    return this.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [studyId]);
      const staleSql = opts.requeueAllRunning
        ? "SELECT id, worker FROM trials WHERE study_id = $1 AND state = 'running'"
        : `SELECT id, worker FROM trials WHERE study_id = $1 AND state = 'running' AND heartbeat_at < ${NOW_MS} - $2`;
      const stale = (await c.query(staleSql, opts.requeueAllRunning ? [studyId] : [studyId, opts.staleMs])).rows;
      for (const s of stale) {
        await c.query("UPDATE trials SET state = 'waiting', worker = NULL WHERE id = $1", [s.id]);
        await c.query(`INSERT INTO trial_assignments (trial_id, worker, at, event) VALUES ($1, $2, ${NOW_MS}, 'requeued')`, [s.id, s.worker ?? "?"]);
      }
      const waiting = (await c.query("SELECT id FROM trials WHERE study_id = $1 AND state = 'waiting' ORDER BY number LIMIT 1", [studyId])).rows[0];
      let id: number;
      if (waiting) {
        id = Number(waiting.id);
        await c.query(`UPDATE trials SET state = 'running', worker = $1, heartbeat_at = ${NOW_MS}, started_at = ${NOW_MS} WHERE id = $2`, [worker, id]);
      } else {
        const history = await this.trialsWith(c, studyId);
        if (history.length >= opts.maxTrials) return null;
        const number = history.length === 0 ? 0 : Math.max(...history.map((t) => t.number)) + 1;
        const params = opts.propose(history, number);
        id = Number(
          (
            await c.query(
              `INSERT INTO trials (study_id, number, state, params_json, worker, heartbeat_at, started_at) VALUES ($1, $2, 'running', $3, $4, ${NOW_MS}, ${NOW_MS}) RETURNING id`,
              [studyId, number, JSON.stringify(params), worker],
            )
          ).rows[0].id,
        );
      }
      await c.query(`INSERT INTO trial_assignments (trial_id, worker, at, event) VALUES ($1, $2, ${NOW_MS}, 'claimed')`, [id, worker]);
      return (await this.trialsWith(c, studyId)).find((t) => t.id === id)!;
    });
  }

  async heartbeat(trialIds: number[], worker: string): Promise<void> {
    if (trialIds.length === 0) return;
    await this.q(`UPDATE trials SET heartbeat_at = ${NOW_MS} WHERE id = ANY($1::bigint[]) AND worker = $2 AND state = 'running'`, [trialIds, worker]);
  }

  async setRun(trialId: number, worker: string, runId: string): Promise<void> {
    await this.q("UPDATE trials SET run_id = $1 WHERE id = $2 AND worker = $3", [runId, trialId, worker]);
  }

  async report(trialId: number, resource: number, value: number): Promise<void> {
    await this.q(
      "INSERT INTO trial_intermediate (trial_id, resource, value) VALUES ($1, $2, $3) ON CONFLICT (trial_id, resource) DO UPDATE SET value = EXCLUDED.value",
      [trialId, resource, value],
    );
  }

  async finish(trialId: number, worker: string, r: FinishResult): Promise<boolean> {
    return this.tx(async (c) => {
      const res = await c.query(
        `UPDATE trials SET state = $1, values_json = $2, error = $3, seconds = $4, epochs = $5, finished_at = ${NOW_MS} WHERE id = $6 AND worker = $7 AND state = 'running'`,
        [r.state, r.values ? JSON.stringify(r.values) : null, r.error, r.seconds, r.epochs, trialId, worker],
      );
      if ((res.rowCount ?? 0) > 0)
        await c.query(`INSERT INTO trial_assignments (trial_id, worker, at, event) VALUES ($1, $2, ${NOW_MS}, $3)`, [trialId, worker, r.state]);
      return (res.rowCount ?? 0) > 0;
    });
  }

  async release(trialId: number, worker: string, opts: { error: string | null; countAttempt: boolean }): Promise<void> {
    await this.tx(async (c) => {
      await c.query(
        "UPDATE trials SET state = 'waiting', worker = NULL, error = $1, attempts = attempts + $2 WHERE id = $3 AND worker = $4 AND state = 'running'",
        [opts.error, opts.countAttempt ? 1 : 0, trialId, worker],
      );
      await c.query(`INSERT INTO trial_assignments (trial_id, worker, at, event) VALUES ($1, $2, ${NOW_MS}, 'released')`, [trialId, worker]);
    });
  }

  async assignments(studyId: string) {
    const rows = (
      await this.q(
        "SELECT t.number, a.worker, a.at, a.event FROM trial_assignments a JOIN trials t ON t.id = a.trial_id WHERE t.study_id = $1 ORDER BY a.seq",
        [studyId],
      )
    ).rows;
    return rows.map((r) => ({ number: Number(r.number), worker: String(r.worker), at: Number(r.at), event: String(r.event) }));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
