// One run, whatever its task: create (or resume) -> prepare -> the engine trains while each
// evaluation is judged -> finalise (best checkpoint, test split once) -> report. The task's
// plug-in (src/tasks/<name>/) says what its data, job and metrics are; resume, interruption,
// locking, reconciliation of dead runs and clean-up live here and nowhere else.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../config/load.js";
import { resolveWith, type ResolvedConfig } from "../config/resolve.js";
import { probe } from "../engine/process.js";
import { writeReports } from "../report/report.js";
import { orphanedEngineGone, type RunLock } from "../store/lock.js";
import { RunStore, storeDir, type RunRecord } from "../store/store.js";
import { openRun, taskPlugin } from "../tasks/registry.js";
import { HoneError } from "../util/errors.js";
import { writeJsonAtomic } from "../util/fs.js";
import { runPaths } from "./artifacts.js";
import { checkpointSteps, removeTemporaries, stepDir } from "./checkpoints.js";
import { faultPoint } from "./faults.js";
import { joinHead, type NodeResult } from "./nodes.js";
import { Selection, supervise } from "./supervise.js";
import {
  evaluatesAt,
  stageEpochs,
  type DryRunResult,
  type PlanBase,
  type RunContext,
  type TaskPlugin,
  type TrainOptions,
  type TrainResult,
  type TrainUpdate,
} from "./types.js";

export type { DryRunResult, TrainOptions, TrainResult, TrainUpdate } from "./types.js";
export type { NodeResult } from "./nodes.js";

interface Opened {
  task: TaskPlugin;
  ctx: RunContext;
  lock: RunLock;
  /** The newest checkpoint's step, or null (a fresh start). */
  resumeFrom: number | null;
  /** The run had completed; only its follow-up is left. */
  completed?: boolean;
}

const RUN_FILES = "run-files.json";

/** Ctrl-C before or between the phases: stop here, the run (if any) stays resumable. */
function stopIfAborted(signal: AbortSignal | undefined, run: RunRecord | null): void {
  if (!signal?.aborted) return;
  throw new HoneError(
    "interrupted",
    run ? `interrupted before training finished; nothing is lost` : "interrupted before any run was created",
    run ? [{ message: `run ${run.id}`, hint: `continue with: hone train --resume ${run.id}` }] : [],
  );
}

async function createRun(store: RunStore, opts: TrainOptions, update: (u: TrainUpdate) => void, nodes: boolean): Promise<Opened | NodeResult | DryRunResult> {
  update({ kind: "phase", text: "resolving config" });
  let cfg: ResolvedConfig;
  if (opts.resolved) cfg = opts.resolved;
  else {
    const loaded = loadConfig(opts.config ?? null, opts.set ?? [], opts.base ?? {});
    cfg = resolveWith(taskPlugin(loaded.config.task).config, loaded, await probe());
  }
  const task = taskPlugin(cfg.task);
  const node = cfg.train.nodes?.rank ?? 0;
  if (node > 0 && !nodes)
    throw new HoneError("usage", `node rank ${node} joins the head's run; it makes none of its own`, [
      {
        path: ["train", "nodes", "rank"],
        message: "train() keeps runs: it is for the head (rank 0)",
        hint: "start the other nodes with hone train (or launch())",
      },
    ]);
  stopIfAborted(opts.signal, null);
  update({ kind: "phase", text: "reading and checking data" });
  // Everything is read and checked before the run exists: bad input leaves nothing behind.
  const staged = await task.stage(cfg, { store, update });
  stopIfAborted(opts.signal, null);
  if (opts.dryRun) return { dryRun: true, cfg, plan: staged.plan };
  if (node > 0) return joinHead(store, cfg, task, staged, opts, update);

  const { run, lock } = store.createLockedRun(cfg.task, cfg.name, cfg, "hone train");
  try {
    faultPoint("created");
    for (const p of staged.parents) store.addLineage(run.id, p.id, p.relation);
    const paths = runPaths(run.run_dir);
    writeJsonAtomic(paths.config, cfg);
    // Recorded before the data is written: a run killed while writing it is prepared again only
    // from the same data (openForResume compares).
    store.update(run.id, { data_hash: staged.dataHash });
    const files = await staged.write(paths);
    await writePrepared(store, run, staged.plan, staged.dataHash, files);
    const ctx: RunContext = { store, run: store.getRun(run.id), cfg, plan: staged.plan, files, paths, update };
    return { task, ctx, lock, resumeFrom: null };
  } catch (e) {
    settle(store, run, e);
    lock.release();
    throw e;
  }
}

/** How long a resume waits for the engine of a killed attempt to save and exit on its own. */
const ORPHAN_WAIT_MS = 120_000;

/** A resumed run over several nodes may meet at another endpoint; its stored config stays as it was. */
function withEndpoint(cfg: ResolvedConfig, endpoint: string | undefined): ResolvedConfig {
  const nodes = cfg.train.nodes;
  return endpoint && nodes && nodes.count > 1 ? { ...cfg, train: { ...cfg.train, nodes: { ...nodes, endpoint } } } : cfg;
}

async function openForResume(store: RunStore, ref: string, update: (u: TrainUpdate) => void, endpoint?: string): Promise<Opened> {
  const found = store.findRun(ref);
  if (found.status === "completed") {
    const { task, run, cfg } = openRun(found);
    if (!task.followUp?.pending(run, cfg))
      throw new HoneError("usage", `run ${found.id} is already complete`, [{ message: "nothing to resume", hint: "start a new run, or --init-from it" }]);
    // Trained and finalised: only its follow-up (augmentation) goes on.
    const lock = store.lockRun(found, "hone train --resume");
    const paths = runPaths(run.run_dir);
    const files = JSON.parse(readFileSync(join(paths.data, RUN_FILES), "utf8")) as unknown;
    const ctx: RunContext = { store, run, cfg, plan: run.plan as PlanBase, files: task.upgradeFiles?.(files) ?? files, paths, update };
    return { task, ctx, lock, resumeFrom: null, completed: true };
  }
  await orphanedEngineGone(found.run_dir, ORPHAN_WAIT_MS, (pid) =>
    update({ kind: "phase", text: `waiting for engine process ${pid} of the interrupted attempt to save its checkpoint and exit` }),
  );
  const lock = store.lockRun(found, "hone train --resume");
  try {
    const { task, run, cfg } = openRun(store.getRun(found.id));
    const paths = runPaths(run.run_dir);
    // No one else works on the run now: what interrupted writes left goes.
    removeTemporaries([paths.checkpoints, paths.evals, paths.model, paths.report, paths.data, run.run_dir]);
    let files: unknown = existsSync(join(paths.data, RUN_FILES)) ? JSON.parse(readFileSync(join(paths.data, RUN_FILES), "utf8")) : null;
    let plan = run.plan as PlanBase | null;
    if (files === null || plan === null) {
      // Stopped while its data was prepared: prepared again, from the same files, the same way.
      update({ kind: "phase", text: "preparing the data again (the run stopped while it was prepared)" });
      const staged = await task.stage(cfg, { store, update });
      if (run.data_hash !== null && staged.dataHash !== run.data_hash) {
        throw new HoneError("data", `the data of run ${run.id} changed since it started`, [
          {
            file: (cfg.data.train ?? cfg.data.test ?? cfg.data.validation)?.path,
            message: `sha256 ${staged.dataHash.slice(0, 12)}, the run started with ${run.data_hash.slice(0, 12)}`,
            hint: "start a new run with the new data",
          },
        ]);
      }
      plan = staged.plan;
      writeJsonAtomic(paths.config, cfg);
      files = await staged.write(paths);
      await writePrepared(store, run, staged.plan, staged.dataHash, files);
    }
    const resumeFrom = checkpointSteps(paths.checkpoints).at(-1) ?? null;
    // Points logged after the checkpoint by the attempt that died are replayed, not kept twice.
    store.truncateMetrics(run.id, resumeFrom ?? 0);
    const ctx: RunContext = { store, run, cfg: withEndpoint(cfg, endpoint), plan, files: task.upgradeFiles?.(files) ?? files, paths, update };
    return { task, ctx, lock, resumeFrom };
  } catch (e) {
    lock.release();
    throw e;
  }
}

/** The plan and the prepared files, written with the run (config.json, plan.json, data/). */
async function writePrepared(store: RunStore, run: RunRecord, plan: PlanBase, dataHash: string, files: unknown): Promise<void> {
  const paths = runPaths(run.run_dir);
  writeJsonAtomic(paths.plan, plan);
  store.update(run.id, { plan, data_hash: dataHash });
  writeJsonAtomic(join(paths.data, RUN_FILES), files);
  for (const f of readdirSync(paths.data)) await store.addArtifact(run.id, "data", join(paths.data, f));
}

/** A run that ends with an error is marked for what it is: interrupted (resumable) or failed. */
function settle(store: RunStore, run: RunRecord, e: unknown): void {
  try {
    if (e instanceof HoneError && e.kind === "interrupted") store.update(run.id, { status: "interrupted", error: null });
    else store.update(run.id, { status: "failed", error: e instanceof Error ? e.message : String(e) });
  } catch {
    // The store itself failed (a full disk): the lock's release lets the next look see a dead run.
  }
}

/** Train a run: create it (or resume it), train, finalise, report. On a machine of a job over
 * several nodes, the head (node rank 0) does this; the others call launch(). */
export async function train(opts: TrainOptions = {}): Promise<TrainResult> {
  // No dry run and no other node here (launch() has those): what comes back is a trained run.
  return (await trainOrJoin({ ...opts, dryRun: false }, false)) as TrainResult;
}

/** What `hone train` runs on any machine: train() on the head (node rank 0), and on the other
 * nodes of a job over several machines their part of the head's run (src/run/nodes.ts). */
export async function launch(opts: TrainOptions = {}): Promise<TrainResult | NodeResult | DryRunResult> {
  return trainOrJoin(opts, true);
}

async function trainOrJoin(opts: TrainOptions, nodes: boolean): Promise<TrainResult | NodeResult | DryRunResult> {
  const update = opts.onUpdate ?? (() => {});
  const store = new RunStore(storeDir(opts.store));
  try {
    stopIfAborted(opts.signal, null);
    const opened = opts.resume ? await openForResume(store, opts.resume, update, opts.endpoint) : await createRun(store, opts, update, nodes);
    if ("node" in opened || "dryRun" in opened) return opened;
    try {
      let result: TrainResult;
      try {
        result = opened.completed ? finished(store, opened.ctx.run.id) : await trainOpened(opened, opts);
      } catch (e) {
        settle(store, opened.ctx.run, e);
        throw e;
      }
      // The run is complete whatever its follow-up does; a search trial (judge) has none.
      const follow = opened.task.followUp;
      if (follow && !opts.judge && follow.pending(opened.ctx.run, opened.ctx.cfg))
        result = await follow.run({ ...opened.ctx, run: store.getRun(opened.ctx.run.id) }, result, opts, { train, finished, openRun });
      return result;
    } finally {
      opened.lock.release();
    }
  } finally {
    store.close();
  }
}

/** A completed run's result, from what it stored (its report's metrics). */
function finished(store: RunStore, ref: string): TrainResult {
  const run = store.findRun(ref);
  const report = runPaths(run.run_dir).report;
  const read = (split: string) => {
    const f = join(report, `metrics.${split}.json`);
    return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as TrainResult["test"]) : null;
  };
  const plan = run.plan as PlanBase;
  return { run, validation: read("validation"), test: read("test"), bestStep: run.best_step ?? 0, pruned: false, epochs: stageEpochs(plan, plan.total_steps) };
}

async function trainOpened({ task, ctx, lock, resumeFrom }: Opened, opts: TrainOptions): Promise<TrainResult> {
  const { store, run, cfg, plan, paths, update } = ctx;
  update({ kind: "run", run, resumedFrom: resumeFrom });
  store.update(run.id, { status: "running", error: null });
  stopIfAborted(opts.signal, run);

  // The best evaluation and early stopping, rebuilt from the stored series on resume.
  const rule = cfg.train.early_stopping;
  const selection = new Selection(rule, store.metrics(run.id, "validation"));
  // The orchestrator died while it judged the checkpoint's evaluation: the engine evaluates it again first.
  const evalFirst = resumeFrom !== null && plan.counts.validation > 0 && evaluatesAt(plan, resumeFrom) && selection.lastStep !== resumeFrom;
  const trained = resumeFrom !== null && !evalFirst && (resumeFrom >= plan.total_steps || (selection.lastStep === resumeFrom && selection.exhausted));

  let doneStep = resumeFrom ?? 0;
  let pruned = false;
  if (trained) update({ kind: "phase", text: `training had finished at step ${resumeFrom}` });
  else {
    update({ kind: "phase", text: resumeFrom === null ? "training" : `resuming at step ${resumeFrom}` });
    const job = task.trainJob(ctx, { resumeFrom: resumeFrom === null ? null : stepDir(paths.checkpoints, resumeFrom), evalFirst });
    const r = await supervise(job, ctx, {
      opts,
      selection,
      lock,
      judge: (ev) => {
        faultPoint("eval");
        return task.judge(ctx, ev, rule.metric);
      },
      trainSeries: task.trainSeries,
      respond: task.respond && ((ev) => task.respond!(ctx, ev)),
    });
    doneStep = r.done.step;
    pruned = r.pruned;
  }
  stopIfAborted(opts.signal, run);

  // ---- the result: best checkpoint -> the run's model, the test split evaluated once ----
  faultPoint("finalise");
  const bestStep: number = selection.best?.step ?? checkpointSteps(paths.checkpoints).at(-1) ?? doneStep;
  const { validation, test } = await task.finalise(ctx, bestStep, opts.evaluateTest !== false);
  if (test) store.logMetrics(run.id, bestStep, "test", task.scalars(test));
  stopIfAborted(opts.signal, run);
  faultPoint("report");
  await writeReports(store, run.id, { validation, test }, task.curveMetric(validation ?? test));
  store.update(run.id, { status: "completed", best_step: bestStep, test_metrics: test ? task.scalars(test) : null });
  return { run: store.getRun(run.id), validation, test, bestStep, pruned, epochs: stageEpochs(plan, doneStep) };
}
