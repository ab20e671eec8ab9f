// What the run lifecycle (src/run/lifecycle.ts) and a task plug-in (src/tasks/<name>/) say to
// each other. The lifecycle owns create, resume, locking, interruption, judging evaluations,
// finalising and reports; a plug-in owns what its task means: its data, its engine job, its
// metrics and what "better" is, its result files and how they read to a person.
import type { AugmentSummary } from "../augment/types.js";
import type { RunMetrics } from "../classifier/evaluate.js";
import type { ResolvedConfig, TaskConfigHooks } from "../config/resolve.js";
import type { LmMetrics } from "../generative/metrics.js";
import type { TokenMetrics } from "../token/metrics.js";
import type { Prediction } from "../predict/types.js";
import type { TokenPrediction } from "../token/model.js";
import type { QaPrediction } from "../qa/decode.js";
import type { QaMetrics } from "../qa/metrics.js";
import type { Control, Event, EventOf, Job, TokenShard } from "../protocol/schema.js";
import type { RunRecord, RunStore } from "../store/store.js";
import type { runPaths } from "./artifacts.js";
import type { MemoryEstimate } from "./resources.js";

export type TrainUpdate =
  | { kind: "phase"; text: string }
  | { kind: "warning"; text: string }
  | { kind: "run"; run: RunRecord; resumedFrom: number | null }
  | { kind: "engine"; event: Event }
  | { kind: "eval"; step: number; metric: string; value: number; best: boolean; loss: number | null };

export interface TrainOptions {
  /** A YAML/JSON config file; may be null when everything comes from `set`. */
  config?: string | null;
  /** Dotted overrides, "train.lr=3e-5". */
  set?: string[];
  /** Settings that a file's values override (the CLI's --data/--model shorthands). */
  base?: Record<string, unknown>;
  /** A config already resolved (a follow-up's run): config, set and base are not read. */
  resolved?: ResolvedConfig;
  store?: string;
  /** Continue an interrupted run (id, name or "last"). */
  resume?: string;
  onUpdate?: (u: TrainUpdate) => void;
  /** Abort = Ctrl-C: the engine finishes its step, saves a checkpoint and stops. */
  signal?: AbortSignal;
  /** Asked after each validation (hyperparameter search): "prune" stops the run there. */
  judge?: (e: { step: number; epoch: number; totalEpochs: number; metrics: Record<string, number | null> }) => Promise<"continue" | "prune">;
  /** Evaluate the best checkpoint on the test split (default). Search trials leave the test split alone. */
  evaluateTest?: boolean;
  /** Extra environment for the engine (GPU assignment). */
  env?: Record<string, string>;
  /** A run over several nodes: the rendezvous endpoint, replacing its config's (a resumed run's
   * head may have another address). */
  endpoint?: string;
  /** Resolve the config, read and check the data, plan the run (and estimate its memory), then
   * stop: no run is made (`hone train --dry-run`). */
  dryRun?: boolean;
}

/** What a dry run found: the resolved config and the plan a run would follow. */
export interface DryRunResult {
  dryRun: true;
  cfg: ResolvedConfig;
  plan: PlanBase;
}

/** Metrics of one split, whatever the task: classifiers' or language models'. */
export type TaskMetrics = RunMetrics | LmMetrics | TokenMetrics | QaMetrics;

/** One text's prediction: labels (classifiers) or entities with offsets (token tasks). */
export type TaskPrediction = Prediction | TokenPrediction | QaPrediction;

export interface TrainResult {
  run: RunRecord;
  /** Augmentation's account (then `run` is the run it kept). */
  augment?: AugmentSummary;
  validation: TaskMetrics | null;
  test: TaskMetrics | null;
  bestStep: number;
  /** Stopped by `judge`. */
  pruned: boolean;
  /** Epochs trained, fractional (the resource a search accounts for). */
  epochs: number;
}

/** `hone eval`: a labelled file instead of the stored test metrics; its columns if not the run's. */
export interface EvaluateOptions {
  data?: string;
  text?: string;
  label?: string;
}

/** What every task's plan holds (plan.json); a task adds its own fields. */
export interface PlanBase {
  counts: { train: number; validation: number; test: number };
  steps_per_epoch: number;
  total_steps: number;
  warmup_steps: number;
  eval_every_steps: number;
  /** Steps of a stage before the one that evaluates (a few-shot run's contrastive stage): the
   * job's first steps; epochs and evaluations count from its end. Absent: 0. */
  pre_steps?: number;
  /** Memory per process, estimated before the run by tasks that can (generative ones); absent
   * in older runs. */
  memory_estimate?: MemoryEstimate | null;
}

/** Epochs of the evaluated stage at a step (a search's resource, the run's epochs). */
export const stageEpochs = (plan: PlanBase, step: number) =>
  plan.steps_per_epoch === 0 ? 0 : Math.max(0, step - (plan.pre_steps ?? 0)) / plan.steps_per_epoch; // 0: no training data

/** The engine evaluates (and checkpoints) at these steps. */
export const evaluatesAt = (plan: PlanBase, step: number) => {
  const pre = plan.pre_steps ?? 0;
  return step === plan.total_steps || (step > pre && (step - pre) % plan.eval_every_steps === 0);
};

export type RunPaths = ReturnType<typeof runPaths>;

/** A run as the lifecycle hands it to its task. */
export interface RunContext<Plan extends PlanBase = PlanBase, Files = unknown> {
  store: RunStore;
  run: RunRecord;
  cfg: ResolvedConfig;
  plan: Plan;
  files: Files;
  paths: RunPaths;
  update: (u: TrainUpdate) => void;
}

/** Data read and checked, not yet written: nothing exists on disk until the run is created. */
export interface Staged<Plan extends PlanBase, Files> {
  plan: Plan;
  /** sha256 of the examples of all splits. */
  dataHash: string;
  /** Runs this one starts from (lineage). */
  parents: { id: string; relation: string }[];
  /** Write the run's data (shards, the model folder's fixed files); return what the job and finalising need. */
  write(paths: RunPaths): Promise<Files>;
}

export interface Judged {
  /** The value of the selection metric. */
  value: number;
  /** Every scalar of this evaluation, for the store and the search. */
  values: Record<string, number | null>;
}

/** An exported ONNX bundle loaded in Node (src/deploy/runtime.ts), as a task's decoder sees it. */
export interface BundleGraph {
  readonly dir: string;
  readonly manifest: { run_id: string; task: string; quantize: string; max_length: number; pad_token_id: number };
  /** Logits per head and text: a sequence head's row, or a token head's rows (tokens × labels, row-major). */
  logitsOfIds(ids: Uint32Array[], batchSize?: number): Promise<Record<string, Float32Array[]>>;
}

/** What a task's runs need to be exported as ONNX bundles and decoded in Node. */
export interface BundleDecoder {
  /** Files of the run's model folder that say how to decode (copied into the bundle). */
  files: string[];
  /** `hone serve`'s route for it, and what one prediction holds (for the OpenAPI document). */
  route: string;
  answer: string;
  /** Predictions for texts from the bundle's graph, the same as `predict` gives from PyTorch. */
  predict(graph: BundleGraph, texts: string[], opts: { topK: number }): Promise<TaskPrediction[]>;
  /** Examples of the run's own prepared data (its files) on which the export is checked. */
  sample(files: unknown): TokenShard | null;
}

/** What the lifecycle lends a follow-up: it cannot import the lifecycle (a circle). */
export interface FollowUpTools {
  /** `train()` itself: a follow-up's own runs live the same life. */
  train(opts: TrainOptions): Promise<TrainResult>;
  /** A completed run's result, as `train` returned it. */
  finished(store: RunStore, ref: string): TrainResult;
  openRun(rec: RunRecord): { task: TaskPlugin; run: RunRecord; cfg: ResolvedConfig };
}

/** Work that starts from a completed run and may make runs of its own (classifiers:
 * augmentation); resumable: a completed run it has not finished is resumed into it. */
export interface FollowUp {
  pending(run: RunRecord, cfg: ResolvedConfig): boolean;
  run(c: RunContext, result: TrainResult, opts: TrainOptions, tools: FollowUpTools): Promise<TrainResult>;
}

/** A task: one folder under src/tasks/, registered in src/tasks/registry.ts. */
export interface TaskPlugin<Plan extends PlanBase = PlanBase, Files = unknown, M extends TaskMetrics = TaskMetrics> {
  name: string;
  /** One line for `hone train --help` and the docs. */
  summary: string;
  /** Defaults, checks and the task's own section of the resolved config (used by resolveConfig). */
  config: TaskConfigHooks;
  /** Read, validate, split and encode the data; nothing is written yet. */
  stage(cfg: ResolvedConfig, ctx: { store: RunStore; update: (u: TrainUpdate) => void }): Promise<Staged<Plan, Files>>;
  /** The resolved config of a run made by an older version, brought to today's shape. */
  upgradeConfig?(stored: Record<string, unknown>): Record<string, unknown>;
  /** Prepared files of runs made by older versions, brought to today's shape. */
  upgradeFiles?(files: Files): Files;
  /** The engine's training job; `resumeFrom` is a checkpoint folder, `evalFirst` asks for the
   * evaluation of that checkpoint before training goes on (it was interrupted). */
  trainJob(c: RunContext<Plan, Files>, resume: { resumeFrom: string | null; evalFirst: boolean }): Job;
  /** Metrics of one validation (from the files the engine wrote). */
  judge(c: RunContext<Plan, Files>, ev: EventOf<"eval">, metric: string): Judged;
  /** The engine's request for rewards of sampled answers (online RL: lm.grpo); absent: none asked. */
  respond?(c: RunContext<Plan, Files>, ev: EventOf<"completions">): Promise<Control>;
  /** Scalars of a progress event worth a series. */
  trainSeries(ev: EventOf<"progress">): Record<string, number | null>;
  /** The best checkpoint becomes the run's model; validation metrics at it, and the test split
   * evaluated once (unless `evaluateTest` is false). */
  finalise(c: RunContext<Plan, Files>, bestStep: number, evaluateTest: boolean): Promise<{ validation: M | null; test: M | null }>;
  /** The scalars of a metrics object that are stored as series. */
  scalars(m: M): Record<string, number>;
  /** Metrics of a finished run on its test split, or on a data file. */
  evaluate(store: RunStore, run: RunRecord, opts: EvaluateOptions): Promise<{ metrics: M; source: string }>;
  /** `hone predict`: one prediction per text (absent: the task generates instead, `hone generate`). */
  predict?(store: RunStore, run: RunRecord, texts: string[], opts: { topK: number }): Promise<TaskPrediction[]>;
  /** ONNX export and inference in Node (absent: the task's runs are not exported to ONNX). */
  bundle?: BundleDecoder;
  /** Metrics as a table for people (`--per-class` adds the per-class rows). */
  renderMetrics(m: M, perClass: boolean): string;
  /** The figure `hone runs` shows for a finished run's stored test metrics. */
  headline(test: Record<string, unknown> | null): string;
  /** The validation metric drawn on the report's curves. */
  curveMetric(m: M | null): string;
  /** Bytes of the trained model (a search's model_mb objective). */
  modelBytes(run: RunRecord): number;
  /** `hone data inspect`: the data doctor's report, for JSON and for people. */
  inspect(cfg: ResolvedConfig): Promise<{ report: unknown; text: string }>;
  /** What `hone serve` offers for a run of this task: its ONNX bundle behind `bundle.route`, or chat. */
  serves: "classify" | "chat" | null;
  /** `hone generate` works with its runs. */
  generates: boolean;
  /** Samples `hone runs show` prints (online RL: answers and their rewards), or null. */
  samples?(run: RunRecord): string | null;
  /** Work after the run completed (absent: none). */
  followUp?: FollowUp;
}
