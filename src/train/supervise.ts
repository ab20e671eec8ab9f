// What every training run does while the engine trains, whatever the task: judge each evaluation
// (best checkpoint, early stopping, a search's pruning), keep only the best and the newest
// checkpoint and evaluation, log the series, forward Ctrl-C, and turn the end into a result.
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { engineFailure, startEngine } from "../engine/process.js";
import type { Control, EventOf, Job } from "../protocol/schema.js";
import { runPaths } from "../run/artifacts.js";
import type { RunRecord, RunStore } from "../store/store.js";
import { HoneError } from "../util/errors.js";
import type { TrainOptions, TrainUpdate } from "./train.js";
import type { ResolvedConfig } from "../config/resolve.js";

/** Name of a step's folder, the engine's layout for checkpoints and evaluation logits alike. */
export const stepName = (step: number) => `step-${String(step).padStart(6, "0")}`;
export const stepDir = (dir: string, step: number) => join(dir, stepName(step));

/** Steps of complete checkpoints on disk, ascending. */
export function checkpointSteps(dir: string): number[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((d) => /^step-(\d+)$/.exec(d))
    .filter((m): m is RegExpExecArray => m !== null && existsSync(join(dir, m[0], "state.json")))
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** An interrupted run, ready to continue: its resolved config, plan, prepared files and the step
 * of its newest checkpoint (null: none yet, it starts over with the same data). */
export function openForResume<Plan, Files>(store: RunStore, ref: string): { run: RunRecord; cfg: ResolvedConfig; plan: Plan; files: Files; resumeFrom: number | null } {
  const run = store.findRun(ref);
  if (run.status === "completed") throw new HoneError("usage", `run ${run.id} is already complete`, [{ message: "nothing to resume", hint: "start a new run, or --init-from it" }]);
  const filesPath = join(runPaths(run.run_dir).data, "run-files.json");
  if (!run.plan || !existsSync(filesPath)) throw new HoneError("store", `run ${run.id} stopped before its data was prepared`, [{ message: "nothing to resume", hint: "start the run again" }]);
  const resumeFrom = checkpointSteps(runPaths(run.run_dir).checkpoints).at(-1) ?? null;
  // Points logged after the checkpoint by the attempt that died are replayed, not kept twice.
  store.truncateMetrics(run.id, resumeFrom ?? 0);
  return { run, cfg: run.config as ResolvedConfig, plan: run.plan as Plan, files: JSON.parse(readFileSync(filesPath, "utf8")) as Files, resumeFrom };
}

/** Loss is minimised, every other selection metric maximised. */
export const improves = (metric: string, value: number, best: number | null, minDelta: number) =>
  best === null || (metric === "loss" ? value < best - minDelta : value > best + minDelta);

export interface Judged {
  /** The value of the selection metric. */
  value: number;
  /** Every scalar of this evaluation, for the store and the search. */
  values: Record<string, number | null>;
}

export interface Supervision {
  store: RunStore;
  run: RunRecord;
  opts: TrainOptions;
  update: (u: TrainUpdate) => void;
  selection: { metric: string; patience: number; min_delta: number };
  epochs: { stepsPerEpoch: number; totalSteps: number };
  /** Metrics of one evaluation event (computed from the files the engine wrote). */
  judge: (ev: EventOf<"eval">) => Judged;
  /** Scalars of a progress event worth a series. */
  trainSeries: (ev: EventOf<"progress">) => Record<string, number | null>;
}

export interface Supervised {
  done: EventOf<"done">;
  best: { step: number; value: number } | null;
  pruned: boolean;
}

export async function supervise(job: Job, s: Supervision): Promise<Supervised> {
  const { store, run, opts, update, selection: es } = s;
  const paths = runPaths(run.run_dir);
  // Best checkpoint and early stopping, rebuilt from the stored series on resume.
  let best: { step: number; value: number } | null = null;
  let sinceBest = 0;
  for (const p of store.metrics(run.id, "validation").filter((p) => p.name === es.metric && p.value !== null)) {
    if (improves(es.metric, p.value, best?.value ?? null, es.min_delta)) {
      best = { step: p.step, value: p.value };
      sinceBest = 0;
    } else sinceBest++;
  }
  let pruned = false;

  const onEval = async (ev: EventOf<"eval">): Promise<Control> => {
    const { value, values } = s.judge(ev);
    store.logMetrics(run.id, ev.step, "validation", values);
    const improved = improves(es.metric, value, best?.value ?? null, es.min_delta);
    if (improved) {
      best = { step: ev.step, value };
      sinceBest = 0;
      store.update(run.id, { best_step: ev.step, best_value: value });
    } else sinceBest++;
    // Only the best evaluation's files are worth keeping (threshold tuning, calibration, the result).
    for (const d of existsSync(paths.evals) ? readdirSync(paths.evals) : []) {
      if (d !== stepName(best!.step) && d !== stepName(ev.step)) rmSync(join(paths.evals, d), { recursive: true, force: true });
    }
    update({ kind: "eval", step: ev.step, metric: es.metric, value, best: improved, loss: ev.loss });
    const { stepsPerEpoch, totalSteps } = s.epochs;
    const verdict = await opts.judge?.({ step: ev.step, epoch: ev.step / stepsPerEpoch, totalEpochs: totalSteps / stepsPerEpoch, metrics: values });
    if (verdict === "prune") {
      pruned = true;
      return { type: "stop", reason: "pruned by the hyperparameter search" };
    }
    if (es.patience > 0 && sinceBest >= es.patience) return { type: "stop", reason: `early stopping: no ${es.metric} gain in ${es.patience} evaluations` };
    return { type: "continue" };
  };

  const handle = startEngine(job, {
    onEval,
    env: opts.env,
    onEvent: (ev) => {
      update({ kind: "engine", event: ev });
      if (ev.type === "progress") store.logMetrics(run.id, ev.step, "train", s.trainSeries(ev));
      if (ev.type === "checkpoint") {
        // Keep the newest checkpoint (for resume) and the best one (the result); delete the rest.
        const keep = new Set([ev.step, best?.step ?? -1]);
        for (const step of checkpointSteps(paths.checkpoints)) if (!keep.has(step)) rmSync(stepDir(paths.checkpoints, step), { recursive: true, force: true });
      }
    },
  });
  const onAbort = () => handle.interrupt();
  opts.signal?.addEventListener("abort", onAbort);
  let result;
  try {
    result = await handle.result;
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
  }
  const done = result.events.find((e): e is EventOf<"done"> => e.type === "done");
  if (result.exitCode !== 0 || !done) {
    const err = engineFailure(result);
    store.update(run.id, { status: "failed", error: err.message });
    throw err;
  }
  if (done.reason === "interrupted") {
    store.update(run.id, { status: "interrupted" });
    throw new HoneError("interrupted", `training interrupted at step ${done.step}; checkpoint saved`, [{ message: `run ${run.id}`, hint: `continue with: hone train --resume ${run.id}` }]);
  }
  if (done.reason === "stopped") update({ kind: "phase", text: `stopped early at step ${done.step}` });
  return { done, best, pruned };
}
