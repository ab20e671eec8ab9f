// `hone tune`: a study is a search over config fields. Each trial is a complete `hone train`
// run (its own engine process, so nothing leaks between trials) with the trial's values set
// on top of the user's config; its validation metric feeds the sampler and the pruner.
// State lives in a StudyStorage, so a killed study resumes where it stopped: finished trials
// are kept, running ones are requeued and continue from their last checkpoint.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { basename, extname, join } from "node:path";
import { loadConfig, type LoadedConfig } from "../config/load.js";
import type { TuneConfig } from "../config/schema.js";
import { probe } from "../engine/process.js";
import { runPaths } from "../run/artifacts.js";
import { pidFileAlive, thisProcess } from "../store/lock.js";
import { RunStore, storeDir } from "../store/store.js";
import { train, type TrainResult } from "../run/lifecycle.js";
import { taskPlugin } from "../tasks/registry.js";
import { HoneError } from "../util/errors.js";
import { shouldPrune, type PrunerSettings } from "./pruners.js";
import { gridSize } from "./samplers/grid.js";
import { SAMPLERS } from "./samplers/index.js";
import { lossOf } from "./samplers/types.js";
import { objectivesOf, parseSpace, type Assignment, type Objective } from "./space.js";
import { PostgresStudyStorage } from "./storage/postgres.js";
import { SqliteStudyStorage } from "./storage/sqlite.js";
import type { StudyDefinition, StudyRow, StudyStorage, TrialRow } from "./storage/types.js";
import { writeStudyReport, type StudyReport } from "./results.js";

export type TuneUpdate =
  | { kind: "study"; study: StudyRow; storage: string; total: number; done: number; requeued: number; parallel: number }
  | { kind: "trial-start"; trial: TrialRow; resumed: boolean; gpu: string | null }
  | { kind: "trial-eval"; number: number; epoch: number; value: number; pruned: boolean }
  | { kind: "trial-end"; trial: TrialRow; best: boolean }
  | { kind: "warning"; text: string }
  | { kind: "phase"; text: string };

export interface TuneOptions {
  config?: string | null;
  set?: string[];
  base?: Record<string, unknown>;
  /** Run store (runs of the trials; the study too unless `storage` is given). */
  store?: string;
  /** postgres://... to share the study between workers on several machines. */
  storage?: string | null;
  /** Study name (default: the config's name, else the config file's name). */
  study?: string | null;
  /** Join an existing study (`hone tune worker`): its definition comes from the storage. */
  join?: boolean;
  parallel?: number;
  trials?: number;
  /** Seconds; no new trial starts after it. */
  timeout?: number | null;
  /** Retrain the best config and evaluate it on the test split. */
  final?: boolean;
  onUpdate?: (u: TuneUpdate) => void;
  signal?: AbortSignal;
  heartbeatMs?: number;
  staleMs?: number;
  worker?: string;
}

export interface TuneResult {
  study: StudyRow;
  trials: TrialRow[];
  report: StudyReport;
  final: TrainResult | null;
}

export function openStorage(url: string | null | undefined, store: string): StudyStorage {
  if (!url) return new SqliteStudyStorage(store);
  if (/^postgres(ql)?:\/\//.test(url)) return new PostgresStudyStorage(url);
  throw new HoneError("usage", `unknown storage "${url}"`, [
    { message: "give a postgres://user@host:5432/db URL, or leave --storage out for the run store's SQLite" },
  ]);
}

function parseDuration(v: number | string | null): number | null {
  if (v === null) return null;
  if (typeof v === "number") return v;
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h)$/.exec(v)!;
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as "s" | "m" | "h"];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const setOf = (params: Assignment) => Object.entries(params).map(([k, v]) => `${k}=${JSON.stringify(v)}`);

/** Objective values of a finished run, from its validation metrics at the best step. */
function objectiveValues(objectives: Objective[], metrics: Record<string, number>, extra: { train_seconds: number; model_mb: number }): number[] {
  const all: Record<string, number> = { ...metrics, ...extra };
  return objectives.map((o) => {
    const v = all[o.metric];
    if (v === undefined || !Number.isFinite(v)) {
      throw new HoneError("config", `the search optimises "${o.metric}", which the runs do not report`, [
        { path: ["tune", "metric"], message: `validation metrics: ${Object.keys(all).join(", ")}`, hint: "pick one of those" },
      ]);
    }
    return v;
  });
}

/** The study: defined by a config (and created, or reopened by name), or joined by name (a worker). */
async function openStudy(storage: StudyStorage, opts: TuneOptions): Promise<{ loaded: LoadedConfig; study: StudyRow }> {
  if (opts.join) {
    if (!opts.study) throw new HoneError("usage", "a worker needs --study <name>");
    const study = await storage.openStudy(opts.study, null);
    return { study, loaded: loadConfig(study.definition.config_file, study.definition.sets) };
  }
  const loaded = loadConfig(opts.config ?? null, opts.set ?? [], opts.base ?? {});
  const space = parseSpace(loaded);
  const t = loaded.config.tune!;
  // The metric the runs select by, as their task resolves it (sft: loss, dpo: reward accuracy...).
  const hooks = taskPlugin(loaded.config.task).config;
  const esMetric = loaded.config.train.early_stopping.metric === "auto" ? hooks.selection.auto(loaded.config) : loaded.config.train.early_stopping.metric;
  const objectives = objectivesOf(t, esMetric);
  if (t.sampler === "gp" && objectives.length > 1)
    throw new HoneError("config", "the GP sampler optimises one objective", [
      { path: ["tune", "sampler"], message: `${objectives.length} metrics given`, hint: "use sampler: tpe (Pareto-aware) or random for several objectives" },
    ]);
  const definition: StudyDefinition = { config_file: loaded.file, sets: opts.set ?? [], space, objectives, sampler: t.sampler, seed: t.seed };
  if (!loaded.file && Object.keys(opts.base ?? {}).length) throw new HoneError("usage", "hone tune needs a config file (workers read the same file)");
  const name = opts.study ?? loaded.config.name ?? (loaded.file ? basename(loaded.file, extname(loaded.file)) : "study");
  return { loaded, study: await storage.openStudy(name, definition) };
}

/** One orchestrator per study on the SQLite store: its pid file, or a usage error naming the live one. */
function lockStudy(outDir: string, name: string): string {
  const lockFile = join(outDir, "orchestrator.pid");
  if (existsSync(lockFile)) {
    // The pid and its start time: a pid the system reused for another process is not the orchestrator.
    const pid = pidFileAlive(readFileSync(lockFile, "utf8"));
    if (pid !== null)
      throw new HoneError("usage", `study "${name}" is being run by process ${pid}`, [
        { message: "one orchestrator per study on the SQLite store", hint: "wait for it, or use --storage postgres://... for several workers" },
      ]);
  }
  writeFileSync(lockFile, JSON.stringify(thisProcess()));
  return lockFile;
}

/** Where trials run: GPUs (trials_per_gpu each) or the CPU's cores shared out. */
async function placement(
  t: TuneConfig,
  requested: number,
  update: (u: TuneUpdate) => void,
): Promise<{ gpus: number[]; parallel: number; threadSets: string[] }> {
  const machine = await probe();
  const gpus = machine.cuda ? (t.gpus === "auto" ? machine.devices.map((_, i) => i) : t.gpus) : [];
  let parallel = requested;
  if (gpus.length > 0 && parallel > gpus.length * t.trials_per_gpu) {
    update({
      kind: "warning",
      text: `parallel ${parallel} > ${gpus.length} GPU(s) x ${t.trials_per_gpu} trial(s) per GPU: running ${gpus.length * t.trials_per_gpu} at a time`,
    });
    parallel = gpus.length * t.trials_per_gpu;
  }
  // Trials on the CPU share its cores instead of each taking all of them.
  const threadSets = gpus.length === 0 && parallel > 1 ? [`train.threads=${Math.max(1, Math.floor(machine.cpu_threads / parallel))}`] : [];
  return { gpus, parallel, threadSets };
}

/** What every trial of a study shares. */
interface StudyContext {
  opts: TuneOptions;
  storage: StudyStorage;
  study: StudyRow;
  t: TuneConfig;
  store: string;
  worker: string;
  gpus: number[];
  threadSets: string[];
  multi: boolean;
  update: (u: TuneUpdate) => void;
  /** Set when the study must stop starting trials (Ctrl-C); `fatal` when it must fail. */
  stop: { stopping: boolean; fatal: unknown };
}

/** The trial's run, if an earlier attempt here got as far as creating it (also when the
 * orchestrator died before it could record the run's id): resumed, reused, or abandoned. */
function earlierRun(store: string, trial: TrialRow, runName: string): { resume: string | null; finished: string | null } {
  const runs = new RunStore(store);
  try {
    let earlier = null;
    for (const ref of [trial.runId, runName]) {
      if (earlier || !ref) continue;
      try {
        earlier = runs.findRun(ref);
        if (earlier.name !== runName) earlier = null;
      } catch {
        // Not in this store (another worker's run, or none yet): start afresh.
      }
    }
    if (earlier?.status === "completed") return { resume: null, finished: earlier.id };
    if (earlier && existsSync(join(runPaths(earlier.run_dir).data, "run-files.json"))) return { resume: earlier.id, finished: null };
    if (earlier) runs.update(earlier.id, { status: "failed", error: "abandoned before its data was prepared; the trial started a new run" });
    return { resume: null, finished: null };
  } finally {
    runs.close();
  }
}

function prunerFor(c: StudyContext, maxResource: number): PrunerSettings {
  const { t } = c;
  return {
    name: c.multi ? "none" : t.pruner,
    direction: c.study.definition.objectives[0]!.direction,
    minResource: t.min_resource,
    maxResource,
    reductionFactor: t.reduction_factor,
    startupTrials: t.pruner_startup_trials,
  };
}

const isBest = (trial: TrialRow, all: TrialRow[], objectives: Objective[]) =>
  trial.state === "complete" &&
  all.every((o) => o.id === trial.id || o.state !== "complete" || !o.values || lossOf(trial.values!, objectives) <= lossOf(o.values, objectives));

/** One trial: a `hone train` of the config with the trial's values (or the resume of its run),
 * reported to the pruner after each validation, recorded in the storage at the end. */
async function runTrial(c: StudyContext, trial: TrialRow, slot: number): Promise<void> {
  const { storage, study, store, worker, update } = c;
  const objectives = study.definition.objectives;
  const gpu = c.gpus.length ? String(c.gpus[slot % c.gpus.length]) : null;
  const runName = `${study.name}-t${trial.number}`;
  const { resume, finished } = earlierRun(store, trial, runName);
  update({ kind: "trial-start", trial, resumed: resume !== null, gpu });
  const started = Date.now();
  let epochsAtPrune = 0;
  // Reports reach the storage in order; pruning decisions see everyone's latest.
  const judge = async (e: { epoch: number; totalEpochs: number; metrics: Record<string, number | null> }): Promise<"continue" | "prune"> => {
    const v = e.metrics[objectives[0]!.metric];
    if (v === null || v === undefined || !Number.isFinite(v)) return "continue";
    await storage.report(trial.id, e.epoch, v);
    const all = await storage.trials(study.id);
    const me = all.find((x) => x.id === trial.id)!;
    const prune = shouldPrune(
      me,
      all.filter((x) => x.id !== trial.id),
      e.epoch,
      prunerFor(c, e.totalEpochs),
    );
    if (prune) epochsAtPrune = e.epoch;
    update({ kind: "trial-eval", number: trial.number, epoch: e.epoch, value: v, pruned: prune });
    return prune ? "prune" : "continue";
  };
  try {
    let result: TrainResult | null = null;
    if (!finished) {
      const abort = new AbortController();
      const forward = () => abort.abort();
      c.opts.signal?.addEventListener("abort", forward);
      try {
        const def = study.definition;
        result = await train({
          ...(resume
            ? { resume }
            : { config: def.config_file, set: [...def.sets, ...setOf(trial.params), ...c.threadSets, `name=${JSON.stringify(runName)}`] }),
          store,
          evaluateTest: false,
          judge,
          env: gpu === null ? {} : { CUDA_VISIBLE_DEVICES: gpu },
          signal: abort.signal,
          onUpdate: (u) => {
            if (u.kind === "run") void storage.setRun(trial.id, worker, u.run.id);
          },
        });
      } finally {
        c.opts.signal?.removeEventListener("abort", forward);
      }
    }
    const runId = finished ?? result!.run.id;
    // Objective values: the run's validation metrics at its best step.
    const runs = new RunStore(store);
    const run = runs.getRun(runId);
    const task = taskPlugin(run.task);
    const metrics = result?.validation
      ? task.scalars(result.validation)
      : Object.fromEntries(
          runs
            .metrics(runId, "validation")
            .filter((p) => p.step === run.best_step && p.value !== null)
            .map((p) => [p.name, p.value]),
        );
    runs.close();
    const values = objectiveValues(objectives, metrics, { train_seconds: (Date.now() - started) / 1000, model_mb: task.modelBytes(run) / 2 ** 20 });
    const pruned = result?.pruned ?? false;
    await storage.finish(trial.id, worker, {
      state: pruned ? "pruned" : "complete",
      values,
      error: null,
      seconds: (Date.now() - started) / 1000,
      epochs: result?.epochs ?? epochsAtPrune,
    });
    const all = await storage.trials(study.id);
    const me = all.find((x) => x.id === trial.id)!;
    const best = !c.multi && isBest(me, all, objectives);
    // Disk: a trial keeps its metrics and reports; checkpoints go, weights stay for the best only.
    rmSync(runPaths(run.run_dir).checkpoints, { recursive: true, force: true });
    if (!best && !c.multi) rmSync(join(runPaths(run.run_dir).model, "model.safetensors"), { force: true });
    update({ kind: "trial-end", trial: me, best });
  } catch (e) {
    await trialFailed(c, trial, e, started);
  }
}

/** A trial that ended in an error: released (Ctrl-C), retried (an engine failure), or failed. */
async function trialFailed(c: StudyContext, trial: TrialRow, e: unknown, started: number): Promise<void> {
  const { storage, worker, study } = c;
  if (e instanceof HoneError && e.kind === "interrupted") {
    await storage.release(trial.id, worker, { error: null, countAttempt: false });
    c.stop.stopping = true;
    return;
  }
  if (e instanceof HoneError && e.kind === "config" && e.message.includes("which the runs do not report")) {
    await storage.release(trial.id, worker, { error: e.message, countAttempt: false });
    c.stop.fatal = e;
    c.stop.stopping = true;
    return;
  }
  const message = e instanceof Error ? e.message : String(e);
  // User errors repeat on every attempt; engine failures (a crash, out of memory) may not.
  const retriable = !(e instanceof HoneError && ["config", "data", "usage", "model"].includes(e.kind));
  if (retriable && trial.attempts < c.t.retries) await storage.release(trial.id, worker, { error: message, countAttempt: true });
  else await storage.finish(trial.id, worker, { state: "failed", values: null, error: message, seconds: (Date.now() - started) / 1000, epochs: null });
  const all = await storage.trials(study.id);
  c.update({ kind: "trial-end", trial: all.find((x) => x.id === trial.id)!, best: false });
}

/** Run trials in `parallel` slots until the budget, the deadline or Ctrl-C. */
async function runSlots(c: StudyContext, parallel: number, maxTrials: number, requeueAll: boolean): Promise<void> {
  const { storage, study, opts, t } = c;
  const def = study.definition;
  const deadline = (() => {
    const timeout = opts.timeout ?? parseDuration(t.timeout);
    return timeout === null ? Infinity : Date.now() + timeout * 1000;
  })();
  const running = new Set<number>();
  const heartbeat = setInterval(() => void storage.heartbeat([...running], c.worker).catch(() => {}), opts.heartbeatMs ?? 10_000);
  const onAbort = () => (c.stop.stopping = true);
  opts.signal?.addEventListener("abort", onAbort);
  const propose = (history: TrialRow[], number: number) =>
    SAMPLERS[def.sampler as keyof typeof SAMPLERS].sample({
      space: def.space,
      objectives: def.objectives,
      history,
      number,
      seed: def.seed,
      startupTrials: t.startup_trials,
      gridPoints: t.grid_points,
    });
  let firstClaim = true;
  const slot = async (i: number) => {
    // Slots start a little apart: the sampler then sees the trials already running.
    await sleep(i * 50);
    while (!c.stop.stopping && Date.now() < deadline) {
      const claim = firstClaim && requeueAll;
      firstClaim = false;
      const trial = await storage.claim(study.id, c.worker, { maxTrials, staleMs: opts.staleMs ?? 60_000, requeueAllRunning: claim, propose });
      if (!trial) {
        // Others may still be running trials that could be requeued to us later (workers).
        if (storage.kind === "postgres" && (await storage.trials(study.id)).some((x) => x.state === "running" || x.state === "waiting")) {
          await sleep(Math.min(opts.heartbeatMs ?? 10_000, 2000));
          continue;
        }
        break;
      }
      running.add(trial.id);
      try {
        await runTrial(c, trial, i);
      } finally {
        running.delete(trial.id);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: parallel }, (_, i) => slot(i)));
  } finally {
    clearInterval(heartbeat);
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

export async function tune(opts: TuneOptions = {}): Promise<TuneResult> {
  const update = opts.onUpdate ?? (() => {});
  const store = storeDir(opts.store);
  const storage = openStorage(opts.storage, store);
  const worker = opts.worker ?? `${hostname()}:${process.pid}`;
  let lockFile: string | null = null;
  try {
    const { loaded, study } = await openStudy(storage, opts);
    const def = study.definition;
    const t = loaded.config.tune!;
    const outDir = join(store, "studies", study.name);
    mkdirSync(outDir, { recursive: true });
    // On the SQLite store a dead orchestrator's running trials are requeued at once.
    if (storage.kind === "sqlite") lockFile = lockStudy(outDir, study.name);
    const requeueAll = storage.kind === "sqlite";

    const maxTrials =
      def.sampler === "grid" ? Math.min(opts.trials ?? t.trials, gridSize({ space: def.space, gridPoints: t.grid_points })) : (opts.trials ?? t.trials);
    const { gpus, parallel, threadSets } = await placement(t, opts.parallel ?? t.parallel, update);
    const multi = def.objectives.length > 1;
    if (multi && t.pruner !== "none") update({ kind: "warning", text: "pruning needs one objective: trials of this multi-objective study run to the end" });
    const initial = await storage.trials(study.id);
    update({
      kind: "study",
      study,
      storage: storage.where,
      total: maxTrials,
      done: initial.filter((x) => x.state === "complete" || x.state === "pruned" || x.state === "failed").length,
      requeued: initial.filter((x) => x.state === "running" || x.state === "waiting").length,
      parallel,
    });

    const c: StudyContext = { opts, storage, study, t, store, worker, gpus, threadSets, multi, update, stop: { stopping: false, fatal: null } };
    await runSlots(c, parallel, maxTrials, requeueAll);
    if (c.stop.fatal) throw c.stop.fatal;
    const trials = await storage.trials(study.id);
    update({ kind: "phase", text: "writing the study report" });
    const report = writeStudyReport({ study, trials, objectives: def.objectives, outDir, config: loaded, space: def.space });
    if (opts.signal?.aborted)
      throw new HoneError("interrupted", `study "${study.name}" interrupted; finished trials are kept`, [
        {
          message: `${trials.filter((x) => x.state === "complete" || x.state === "pruned").length} trial(s) done`,
          hint: "run the same command again to continue",
        },
      ]);

    let final: TrainResult | null = null;
    if (opts.final) {
      const best = report.best;
      if (!best) throw new HoneError("usage", "no trial completed: nothing to retrain", [{ message: `study "${study.name}"` }]);
      update({ kind: "phase", text: `retraining trial ${best.number}'s config on train and testing it once` });
      final = await train({
        config: def.config_file,
        set: [...def.sets, ...setOf(best.params), `name=${JSON.stringify(`${study.name}-final`)}`],
        store,
        signal: opts.signal,
      });
    }
    return { study, trials, report, final };
  } finally {
    if (lockFile) rmSync(lockFile, { force: true });
    await storage.close();
  }
}
