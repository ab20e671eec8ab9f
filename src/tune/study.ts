// `hone tune`: a study is a search over config fields. Each trial is a complete `hone train`
// run (its own engine process, so nothing leaks between trials) with the trial's values set
// on top of the user's config; its validation metric feeds the sampler and the pruner.
// State lives in a StudyStorage, so a killed study resumes where it stopped: finished trials
// are kept, running ones are requeued and continue from their last checkpoint.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { basename, extname, join } from "node:path";
import { loadConfig, type LoadedConfig } from "../config/load.js";
import { probe } from "../engine/process.js";
import { runPaths } from "../run/artifacts.js";
import { RunStore, storeDir } from "../store/store.js";
import { train, type TrainResult } from "../train/train.js";
import { scalarMetrics } from "../train/evaluate.js";
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
  throw new HoneError("usage", `unknown storage "${url}"`, [{ message: "give a postgres://user@host:5432/db URL, or leave --storage out for the run store's SQLite" }]);
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

export async function tune(opts: TuneOptions = {}): Promise<TuneResult> {
  const update = opts.onUpdate ?? (() => {});
  const store = storeDir(opts.store);
  const storage = openStorage(opts.storage, store);
  const worker = opts.worker ?? `${hostname()}:${process.pid}`;
  let lockFile: string | null = null;
  try {
    // ---- the study: defined by a config, or joined by name ----
    let loaded: LoadedConfig;
    let study: StudyRow;
    if (opts.join) {
      if (!opts.study) throw new HoneError("usage", "a worker needs --study <name>");
      study = await storage.openStudy(opts.study, null);
      loaded = loadConfig(study.definition.config_file, study.definition.sets);
    } else {
      loaded = loadConfig(opts.config ?? null, opts.set ?? [], opts.base ?? {});
      const space = parseSpace(loaded);
      const t = loaded.config.tune!;
      const esMetric = loaded.config.train.early_stopping.metric === "auto" ? (loaded.config.data.multi_label ? "micro_f1" : "accuracy") : loaded.config.train.early_stopping.metric;
      const objectives = objectivesOf(t, esMetric);
      if (t.sampler === "gp" && objectives.length > 1) throw new HoneError("config", "the GP sampler optimises one objective", [{ path: ["tune", "sampler"], message: `${objectives.length} metrics given`, hint: "use sampler: tpe (Pareto-aware) or random for several objectives" }]);
      const definition: StudyDefinition = { config_file: loaded.file, sets: opts.set ?? [], space, objectives, sampler: t.sampler, seed: t.seed };
      if (!loaded.file && Object.keys(opts.base ?? {}).length) throw new HoneError("usage", "hone tune needs a config file (workers read the same file)");
      const name = opts.study ?? loaded.config.name ?? (loaded.file ? basename(loaded.file, extname(loaded.file)) : "study");
      study = await storage.openStudy(name, definition);
    }
    const def = study.definition;
    const t = loaded.config.tune!;
    const objectives = def.objectives;
    const sampler = SAMPLERS[def.sampler as keyof typeof SAMPLERS];
    const outDir = join(store, "studies", study.name);
    mkdirSync(outDir, { recursive: true });

    // One orchestrator per study on the SQLite store; a dead one's running trials are requeued at once.
    let requeueAll = false;
    if (storage.kind === "sqlite") {
      lockFile = join(outDir, "orchestrator.pid");
      if (existsSync(lockFile)) {
        const pid = Number(readFileSync(lockFile, "utf8"));
        let alive = false;
        try {
          process.kill(pid, 0);
          alive = pid !== process.pid;
        } catch {
          alive = false;
        }
        if (alive) {
          lockFile = null;
          throw new HoneError("usage", `study "${study.name}" is being run by process ${pid}`, [{ message: "one orchestrator per study on the SQLite store", hint: "wait for it, or use --storage postgres://... for several workers" }]);
        }
      }
      writeFileSync(lockFile, String(process.pid));
      requeueAll = true;
    }

    const maxTrials = def.sampler === "grid" ? Math.min(opts.trials ?? t.trials, gridSize({ space: def.space, gridPoints: t.grid_points })) : (opts.trials ?? t.trials);
    const timeout = opts.timeout ?? parseDuration(t.timeout);
    const deadline = timeout === null ? Infinity : Date.now() + timeout * 1000;
    const machine = await probe();
    const gpus = machine.cuda ? (t.gpus === "auto" ? machine.devices.map((_, i) => i) : t.gpus) : [];
    let parallel = opts.parallel ?? t.parallel;
    if (gpus.length > 0 && parallel > gpus.length * t.trials_per_gpu) {
      update({ kind: "warning", text: `parallel ${parallel} > ${gpus.length} GPU(s) x ${t.trials_per_gpu} trial(s) per GPU: running ${gpus.length * t.trials_per_gpu} at a time` });
      parallel = gpus.length * t.trials_per_gpu;
    }
    // Trials on the CPU share its cores instead of each taking all of them.
    const threadSets = gpus.length === 0 && parallel > 1 ? [`train.threads=${Math.max(1, Math.floor(machine.cpu_threads / parallel))}`] : [];
    const multi = objectives.length > 1;
    if (multi && t.pruner !== "none") update({ kind: "warning", text: "pruning needs one objective: trials of this multi-objective study run to the end" });
    const prunerFor = (maxResource: number): PrunerSettings => ({
      name: multi ? "none" : t.pruner,
      direction: objectives[0]!.direction,
      minResource: t.min_resource,
      maxResource,
      reductionFactor: t.reduction_factor,
      startupTrials: t.pruner_startup_trials,
    });

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

    const running = new Set<number>();
    const heartbeat = setInterval(() => void storage.heartbeat([...running], worker).catch(() => {}), opts.heartbeatMs ?? 10_000);
    let stopping = false;
    let fatal: unknown = null;
    const onAbort = () => (stopping = true);
    opts.signal?.addEventListener("abort", onAbort);
    const isBest = (trial: TrialRow, all: TrialRow[]) =>
      !multi && trial.state === "complete" && all.every((o) => o.id === trial.id || o.state !== "complete" || !o.values || lossOf(trial.values!, objectives) <= lossOf(o.values, objectives));

    const runTrial = async (trial: TrialRow, slot: number) => {
      const gpu = gpus.length ? String(gpus[slot % gpus.length]) : null;
      const runs = new RunStore(store);
      let resume: string | null = null;
      let finishedRun: { id: string } | null = null;
      // The trial's run, if an earlier attempt here got as far as creating it (also when the
      // orchestrator died before it could record the run's id).
      const runName = `${study.name}-t${trial.number}`;
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
      if (earlier?.status === "completed") finishedRun = earlier;
      else if (earlier && existsSync(join(runPaths(earlier.run_dir).data, "run-files.json"))) resume = earlier.id;
      else if (earlier) runs.update(earlier.id, { status: "failed", error: "abandoned before its data was prepared; the trial started a new run" });
      runs.close();
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
        const prune = shouldPrune(me, all.filter((x) => x.id !== trial.id), e.epoch, prunerFor(e.totalEpochs));
        if (prune) epochsAtPrune = e.epoch;
        update({ kind: "trial-eval", number: trial.number, epoch: e.epoch, value: v, pruned: prune });
        return prune ? "prune" : "continue";
      };
      try {
        let result: TrainResult | null = null;
        let runId: string;
        if (finishedRun) runId = finishedRun.id;
        else {
          const abort = new AbortController();
          const forward = () => abort.abort();
          opts.signal?.addEventListener("abort", forward);
          try {
            result = await train({
              ...(resume ? { resume } : { config: def.config_file, set: [...def.sets, ...setOf(trial.params), ...threadSets, `name=${JSON.stringify(runName)}`] }),
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
            opts.signal?.removeEventListener("abort", forward);
          }
          runId = result.run.id;
        }
        // Objective values: the run's validation metrics at its best step.
        const runs2 = new RunStore(store);
        const run = runs2.getRun(runId);
        const metrics = result?.validation
          ? scalarMetrics(result.validation)
          : Object.fromEntries(runs2.metrics(runId, "validation").filter((p) => p.step === run.best_step && p.value !== null).map((p) => [p.name, p.value]));
        runs2.close();
        const weights = join(runPaths(run.run_dir).model, "model.safetensors");
        const values = objectiveValues(objectives, metrics, { train_seconds: (Date.now() - started) / 1000, model_mb: existsSync(weights) ? statSync(weights).size / 2 ** 20 : 0 });
        const pruned = result?.pruned ?? false;
        await storage.finish(trial.id, worker, { state: pruned ? "pruned" : "complete", values, error: null, seconds: (Date.now() - started) / 1000, epochs: result?.epochs ?? epochsAtPrune });
        const all = await storage.trials(study.id);
        const me = all.find((x) => x.id === trial.id)!;
        const best = isBest(me, all);
        // Disk: a trial keeps its metrics and reports; checkpoints go, weights stay for the best only.
        rmSync(runPaths(run.run_dir).checkpoints, { recursive: true, force: true });
        if (!best && !multi) rmSync(weights, { force: true });
        update({ kind: "trial-end", trial: me, best });
      } catch (e) {
        if (e instanceof HoneError && e.kind === "interrupted") {
          await storage.release(trial.id, worker, { error: null, countAttempt: false });
          stopping = true;
          return;
        }
        if (e instanceof HoneError && e.kind === "config" && e.message.includes("which the runs do not report")) {
          await storage.release(trial.id, worker, { error: e.message, countAttempt: false });
          fatal = e;
          stopping = true;
          return;
        }
        const message = e instanceof Error ? e.message : String(e);
        // User errors repeat on every attempt; engine failures (a crash, out of memory) may not.
        const retriable = !(e instanceof HoneError && ["config", "data", "usage", "model"].includes(e.kind));
        if (retriable && trial.attempts < t.retries) await storage.release(trial.id, worker, { error: message, countAttempt: true });
        else await storage.finish(trial.id, worker, { state: "failed", values: null, error: message, seconds: (Date.now() - started) / 1000, epochs: null });
        const all = await storage.trials(study.id);
        update({ kind: "trial-end", trial: all.find((x) => x.id === trial.id)!, best: false });
      }
    };

    const propose = (history: TrialRow[], number: number) =>
      sampler.sample({ space: def.space, objectives, history, number, seed: def.seed, startupTrials: t.startup_trials, gridPoints: t.grid_points });
    let firstClaim = true;
    const slot = async (i: number) => {
      // Slots start a little apart: the sampler then sees the trials already running.
      await sleep(i * 50);
      while (!stopping && Date.now() < deadline) {
        const claim = firstClaim && requeueAll;
        firstClaim = false;
        const trial = await storage.claim(study.id, worker, { maxTrials, staleMs: opts.staleMs ?? 60_000, requeueAllRunning: claim, propose });
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
          await runTrial(trial, i);
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
    if (fatal) throw fatal;
    const trials = await storage.trials(study.id);
    update({ kind: "phase", text: "writing the study report" });
    const report = writeStudyReport({ study, trials, objectives, outDir, config: loaded, space: def.space });
    if (opts.signal?.aborted) throw new HoneError("interrupted", `study "${study.name}" interrupted; finished trials are kept`, [{ message: `${trials.filter((x) => x.state === "complete" || x.state === "pruned").length} trial(s) done`, hint: "run the same command again to continue" }]);

    let final: TrainResult | null = null;
    if (opts.final) {
      const best = report.best;
      if (!best) throw new HoneError("usage", "no trial completed: nothing to retrain", [{ message: `study "${study.name}"` }]);
      update({ kind: "phase", text: `retraining trial ${best.number}'s config on train and testing it once` });
      final = await train({ config: def.config_file, set: [...def.sets, ...setOf(best.params), `name=${JSON.stringify(`${study.name}-final`)}`], store, signal: opts.signal });
    }
    return { study, trials, report, final };
  } finally {
    if (lockFile) rmSync(lockFile, { force: true });
    await storage.close();
  }
}

