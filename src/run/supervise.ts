// What every run does while the engine trains, whatever the task: judge each evaluation (best
// checkpoint, early stopping, a search's pruning), keep only the best and the newest checkpoint
// and evaluation, log the series, forward Ctrl-C, and turn the end into a result.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { engineFailure, startEngine, untilExit } from "../engine/process.js";
import type { Control, EventOf, Job } from "../protocol/schema.js";
import type { MetricPoint } from "../store/store.js";
import type { RunLock } from "../store/lock.js";
import { HoneError } from "../util/errors.js";
import { checkpointSteps, stepDir, stepName } from "./checkpoints.js";
import { faultPoint } from "./faults.js";
import { memorySeries } from "./resources.js";
import { stageEpochs, type Judged, type RunContext, type TrainOptions } from "./types.js";

/** Loss is minimised, every other selection metric maximised. */
export const improves = (metric: string, value: number, best: number | null, minDelta: number) =>
  best === null || (metric === "loss" ? value < best - minDelta : value > best + minDelta);

/** The best evaluation so far and the evaluations since: rebuilt from the stored series on resume,
 * so a resumed run decides exactly as the uninterrupted one would have. */
export class Selection {
  best: { step: number; value: number } | null = null;
  sinceBest = 0;
  lastStep: number | null = null;

  constructor(
    readonly rule: { metric: string; patience: number; min_delta: number },
    history: MetricPoint[] = [],
  ) {
    for (const p of history) if (p.name === rule.metric && p.value !== null) this.add(p.step, p.value);
  }

  /** Record an evaluation; true when it is the new best. */
  add(step: number, value: number): boolean {
    this.lastStep = step;
    if (improves(this.rule.metric, value, this.best?.value ?? null, this.rule.min_delta)) {
      this.best = { step, value };
      this.sinceBest = 0;
      return true;
    }
    this.sinceBest++;
    return false;
  }

  /** Early stopping says stop. */
  get exhausted(): boolean {
    return this.rule.patience > 0 && this.sinceBest >= this.rule.patience;
  }
}

export interface Supervised {
  done: EventOf<"done">;
  pruned: boolean;
}

export async function supervise(
  job: Job,
  c: RunContext,
  s: {
    opts: TrainOptions;
    selection: Selection;
    lock: RunLock;
    judge: (ev: EventOf<"eval">) => Judged;
    respond?: (ev: EventOf<"completions">) => Promise<Control>;
    trainSeries: (ev: EventOf<"progress">) => Record<string, number | null>;
  },
): Promise<Supervised> {
  const { store, run, plan, paths, update } = c;
  const { opts, selection } = s;
  const metric = selection.rule.metric;
  let pruned = false;

  const onEval = async (ev: EventOf<"eval">): Promise<Control> => {
    const { value, values } = s.judge(ev);
    store.logMetrics(run.id, ev.step, "validation", values);
    const improved = selection.add(ev.step, value);
    if (improved) store.update(run.id, { best_step: ev.step, best_value: value });
    // Only the best evaluation's files are worth keeping (threshold tuning, calibration, the result).
    for (const d of existsSync(paths.evals) ? readdirSync(paths.evals) : []) {
      if (d !== stepName(selection.best!.step) && d !== stepName(ev.step)) rmSync(join(paths.evals, d), { recursive: true, force: true });
    }
    update({ kind: "eval", step: ev.step, metric, value, best: improved, loss: ev.loss });
    const verdict = await opts.judge?.({
      step: ev.step,
      epoch: stageEpochs(plan, ev.step),
      totalEpochs: stageEpochs(plan, plan.total_steps),
      metrics: values,
    });
    if (verdict === "prune") {
      pruned = true;
      return { type: "stop", reason: "pruned by the hyperparameter search" };
    }
    if (selection.exhausted) return { type: "stop", reason: `early stopping: no ${metric} gain in ${selection.rule.patience} evaluations` };
    return { type: "continue" };
  };

  const handle = startEngine(job, {
    onEval,
    onCompletions: s.respond,
    env: opts.env,
    nodes: c.cfg.train.nodes,
    onEvent: (ev) => {
      update({ kind: "engine", event: ev });
      if (ev.type === "progress") store.logMetrics(run.id, ev.step, "train", { ...s.trainSeries(ev), ...memorySeries(ev.memory) });
      if (ev.type === "checkpoint") {
        faultPoint("checkpoint");
        // Keep the newest checkpoint (for resume) and the best one (the result); delete the rest.
        const keep = new Set([ev.step, selection.best?.step ?? -1]);
        for (const step of checkpointSteps(paths.checkpoints)) if (!keep.has(step)) rmSync(stepDir(paths.checkpoints, step), { recursive: true, force: true });
      }
    },
  });
  s.lock.setEngine(handle.pid);
  let result: Awaited<typeof handle.result>;
  try {
    result = await untilExit(handle, opts.signal);
  } finally {
    s.lock.setEngine(null);
  }
  const done = result.events.find((e): e is EventOf<"done"> => e.type === "done");
  const interrupted = (what: string) =>
    new HoneError("interrupted", what, [{ message: `run ${run.id}`, hint: `continue with: hone train --resume ${run.id}` }]);
  // Ctrl-C in the instant the engine starts can stop it before it catches the signal: the run is
  // interrupted (its checkpoints are intact), not failed.
  if ((result.exitCode !== 0 || !done) && opts.signal?.aborted) throw interrupted("training interrupted while the engine started; nothing is lost");
  if (result.exitCode !== 0 || !done) throw engineFailure(result);
  if (done.reason === "interrupted")
    throw interrupted(
      checkpointSteps(paths.checkpoints).includes(done.step)
        ? `training interrupted at step ${done.step}; checkpoint saved`
        : `training interrupted before step ${done.step + 1}; nothing is lost`,
    );
  if (done.reason === "stopped") update({ kind: "phase", text: `stopped early at step ${done.step}` });
  return { done, pruned };
}
