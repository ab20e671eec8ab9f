// `hone train`: resolve -> read and check data -> tokenize to shards -> engine trains while we
// judge each evaluation -> test the best checkpoint once -> reports. Resumable at any point.
import { copyFileSync, existsSync, readdirSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../config/load.js";
import { isGenerative, planTraining, resolveConfig, type ResolvedConfig, type Task, type TrainingPlan } from "../config/resolve.js";
import { trainGenerative } from "../generative/train.js";
import type { LmMetrics } from "../generative/metrics.js";
import { loadDataset } from "../data/dataset.js";
import { probe } from "../engine/process.js";
import { metricValue, type SelectMetric } from "../metrics/classification.js";
import { checkpointSteps, openForResume, stepDir, supervise } from "./supervise.js";
import type { ClassifyTrainJob, Event, TokenShard } from "../protocol/schema.js";
import { modelSpec, predictShard, runtimeSpec } from "../predict/logits.js";
import { writeReports } from "../report/report.js";
import { runPaths } from "../run/artifacts.js";
import { RunStore, storeDir, type RunRecord } from "../store/store.js";
import { loadTokenizer } from "../tokenize/tokenizer.js";
import { writeShard } from "../tokenize/shards.js";
import { HoneError } from "../util/errors.js";
import { tempSibling, writeJsonAtomic } from "../util/fs.js";
import { computeMetrics, readHeadLogits, scalarMetrics, tuneDecoding, type RunMetrics, type Targets } from "./evaluate.js";
import { couplings, headsFile, headSpecs, loadHeads, mainTargets, planHeads, shardHeads, taskTargets, type HeadPlan } from "./heads.js";
import type { QualityReport } from "../data/quality.js";

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
}

export interface TrainResult {
  run: RunRecord;
  /** Classifier metrics, or LmMetrics (kind "lm") for generative tasks. */
  validation: RunMetrics | LmMetrics | null;
  test: RunMetrics | LmMetrics | null;
  bestStep: number;
  /** Stopped by `judge`. */
  pruned: boolean;
  /** Epochs trained, fractional (the resource a search accounts for). */
  epochs: number;
}

const MODEL_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "merges.txt", "vocab.json"];

interface RunFiles {
  labels: string[];
  shards: { train: TokenShard; validation: TokenShard | null; test: TokenShard | null };
  targets: { validation: Targets; test: Targets };
  /** Weights the run started from (init_from), kept so that a resume starts the same way. */
  initFrom: { weights: string; heads: boolean } | null;
}

function qualityWarnings(q: QualityReport): string[] {
  const w: string[] = [];
  for (const d of q.duplicates) w.push(`${d.count} duplicate text(s) in ${d.split} (e.g. ${d.examples[0]!.join(" = ")})`);
  if (q.conflicts.length > 0) w.push(`${q.conflicts.length} text(s) appear with different labels (e.g. ${q.conflicts[0]!.origins.join(", ")})`);
  for (const l of q.leakage) w.push(`${l.count} ${l.to} text(s) also occur in train: ${l.to} scores will be optimistic (e.g. ${l.examples[0]})`);
  return w;
}

async function prepareNewRun(store: RunStore, opts: TrainOptions, update: (u: TrainUpdate) => void) {
  update({ kind: "phase", text: "resolving config" });
  const loaded = loadConfig(opts.config ?? null, opts.set ?? [], opts.base ?? {});
  const machine = await probe();
  const cfg = resolveConfig(loaded, machine);
  update({ kind: "phase", text: "reading and checking data" });
  const dataset = loadDataset(cfg);
  for (const w of [...qualityWarnings(dataset.quality), ...dataset.notes]) update({ kind: "warning", text: w });
  const heads = planHeads(cfg, dataset.labels, dataset.taskLabels);
  const plan = planTraining(cfg, heads.labels, { train: dataset.train.length, validation: dataset.validation.length, test: dataset.test.length });

  let initFrom: RunFiles["initFrom"] = null;
  let parent: RunRecord | null = null;
  if (cfg.model.init_from) {
    parent = store.findRun(cfg.model.init_from);
    const weights = join(runPaths(parent.run_dir).model, "model.safetensors");
    if (!existsSync(weights)) throw new HoneError("usage", `run ${parent.id} has no final model to start from`, [{ message: `missing ${weights}`, hint: "init_from needs a completed run" }]);
    // Same heads with the same labels: keep the trained heads too; otherwise they start fresh.
    const parentHeads = loadHeads(runPaths(parent.run_dir).model, parent.config as ResolvedConfig).heads;
    initFrom = { weights, heads: JSON.stringify(parentHeads) === JSON.stringify(heads.heads) };
  }

  const run = store.createRun(cfg.task, cfg.name, cfg);
  if (parent) store.addLineage(run.id, parent.id, "init_from");
  const paths = runPaths(run.run_dir);
  writeJsonAtomic(paths.config, cfg);
  writeJsonAtomic(paths.plan, plan);
  store.update(run.id, { plan, data_hash: dataset.hash });

  // The run carries its own copy of the model's config and tokenizer: predict/export need nothing else.
  mkdirSync(paths.model, { recursive: true });
  for (const f of MODEL_FILES) if (existsSync(join(cfg.model.dir, f))) copyFileSync(join(cfg.model.dir, f), join(paths.model, f));
  writeJsonAtomic(join(paths.model, "labels.json"), plan.labels);
  writeJsonAtomic(join(paths.model, "heads.json"), headsFile(heads));

  update({ kind: "phase", text: `tokenizing ${plan.counts.train + plan.counts.validation + plan.counts.test} examples` });
  const tokenizer = loadTokenizer(cfg.model.dir, cfg.data.max_length);
  const shard = async (split: string, examples: typeof dataset.train) =>
    examples.length === 0 ? null : writeShard(paths.data, split, await tokenizer.encode(examples.map((e) => e.text)), shardHeads(heads, examples));
  const targets = (examples: typeof dataset.train): Targets => ({ main: mainTargets(heads, examples), tasks: taskTargets(heads, examples) });
  const files: RunFiles = {
    labels: plan.labels,
    shards: { train: (await shard("train", dataset.train))!, validation: await shard("validation", dataset.validation), test: await shard("test", dataset.test) },
    targets: { validation: targets(dataset.validation), test: targets(dataset.test) },
    initFrom,
  };
  writeJsonAtomic(join(paths.data, "run-files.json"), files);
  for (const f of readdirSync(paths.data)) await store.addArtifact(run.id, "data", join(paths.data, f));
  return { run: store.getRun(run.id), cfg, plan, files };
}

/** The task a train() call is about: the resumed run's, or the config's. */
function taskOf(store: RunStore, opts: TrainOptions): string {
  if (opts.resume) return store.findRun(opts.resume).task;
  return loadConfig(opts.config ?? null, opts.set ?? [], opts.base ?? {}).config.task;
}

export async function train(opts: TrainOptions = {}): Promise<TrainResult> {
  const update = opts.onUpdate ?? (() => {});
  const store = new RunStore(storeDir(opts.store));
  try {
    if (isGenerative(taskOf(store, opts) as Task)) return await trainGenerative(store, opts, update);
    let run: RunRecord;
    let cfg: ResolvedConfig;
    let plan: TrainingPlan;
    let files: RunFiles;
    let resumeFrom: number | null = null;

    if (opts.resume) {
      ({ run, cfg, plan, files, resumeFrom } = openForResume<TrainingPlan, RunFiles>(store, opts.resume));
      for (const split of ["validation", "test"] as const) {
        const t = files.targets[split] as Targets | number[][];
        if (Array.isArray(t)) files.targets[split] = { main: t, tasks: {} }; // runs prepared before multi-task heads
      }
    } else {
      ({ run, cfg, plan, files } = await prepareNewRun(store, opts, update));
    }
    update({ kind: "run", run, resumedFrom: resumeFrom });
    const paths = runPaths(run.run_dir);
    const heads: HeadPlan = loadHeads(paths.model, cfg);
    store.update(run.id, { status: "running", error: null });

    const es = cfg.train.early_stopping as ResolvedConfig["train"]["early_stopping"] & { metric: SelectMetric };

    const job: ClassifyTrainJob = {
      kind: "classify.train",
      protocol_version: 1,
      run_dir: run.run_dir,
      model: modelSpec(cfg, cfg.model.dir, files.initFrom),
      heads: headSpecs(heads, cfg.train.label_smoothing),
      couplings: couplings(heads),
      data: { train: files.shards.train, validation: files.shards.validation },
      optim: {
        seed: cfg.train.seed,
        lr: cfg.train.lr,
        head_lr: cfg.train.head_lr,
        weight_decay: cfg.train.weight_decay,
        betas: cfg.train.betas,
        eps: cfg.train.eps,
        max_grad_norm: cfg.train.max_grad_norm,
        scheduler: cfg.train.scheduler,
        warmup_steps: plan.warmup_steps,
        batch_size: cfg.train.batch_size,
        grad_accum: cfg.train.grad_accum,
        steps_per_epoch: plan.steps_per_epoch,
        total_steps: plan.total_steps,
        group_by_length: cfg.train.group_by_length,
        eval_batch_size: cfg.train.eval_batch_size,
      },
      freeze: cfg.train.freeze,
      eval_every: plan.eval_every_steps,
      runtime: runtimeSpec(cfg),
      resume_from: resumeFrom === null ? null : stepDir(paths.checkpoints, resumeFrom),
    };

    update({ kind: "phase", text: resumeFrom === null ? "training" : `resuming at step ${resumeFrom}` });
    const { done, best, pruned } = await supervise(job, {
      store,
      run,
      opts,
      update,
      selection: es,
      epochs: { stepsPerEpoch: plan.steps_per_epoch, totalSteps: plan.total_steps },
      judge: (ev) => {
        // Selection sees full decisions: tuned multi-label thresholds, but no partial paths.
        const val = { logits: readHeadLogits(heads, ev.logits, ev.count), targets: files.targets.validation };
        const m = computeMetrics(heads, val.logits, val.targets, { ...tuneDecoding(heads, null, val), hierarchy_thresholds: null });
        const values = scalarMetrics(m);
        return { value: metricValue(m, es.metric), values: { ...values, engine_loss: ev.loss, loss: values.loss ?? ev.loss } };
      },
      trainSeries: (ev) => ({ loss: ev.loss, lr: ev.lr, grad_norm: ev.grad_norm, samples_per_s: ev.samples_per_s }),
    });

    // ---- the result: best checkpoint -> final model, test split evaluated once ----
    const bestStep: number = best?.step ?? checkpointSteps(paths.checkpoints).at(-1) ?? done.step;
    const weights = join(stepDir(paths.checkpoints, bestStep), "model.safetensors");
    const finalWeights = join(paths.model, "model.safetensors");
    const tmp = tempSibling(finalWeights);
    copyFileSync(weights, tmp);
    renameSync(tmp, finalWeights);
    await store.addArtifact(run.id, "model", finalWeights);

    const bestEval = stepDir(paths.evals, bestStep);
    const evalFiles = Object.fromEntries(heads.heads.map((h) => [h.name, join(bestEval, `${h.name}.logits.f32`)]));
    const val =
      files.shards.validation && Object.values(evalFiles).every((f) => existsSync(f))
        ? { logits: readHeadLogits(heads, evalFiles, files.shards.validation.count), targets: files.targets.validation }
        : null;
    const decoding = tuneDecoding(heads, cfg.hierarchy?.target_precision ?? null, val);
    writeJsonAtomic(join(paths.model, "decoding.json"), { multi_label: cfg.data.multi_label, ...decoding, pooling: cfg.model.pooling, max_length: cfg.data.max_length });
    const validation = val ? computeMetrics(heads, val.logits, val.targets, decoding) : null;

    let test: RunMetrics | null = null;
    if (files.shards.test && opts.evaluateTest !== false) {
      update({ kind: "phase", text: `evaluating step ${bestStep} on the test split (${files.shards.test.count} examples)` });
      const { logits } = await predictShard({ cfg, plan: heads, modelDir: paths.model, weights: finalWeights, shard: files.shards.test, outDir: join(run.run_dir, "predictions", "test") });
      test = computeMetrics(heads, logits, files.targets.test, decoding);
      store.logMetrics(run.id, bestStep, "test", scalarMetrics(test));
    }
    await writeReports(store, run.id, { validation, test });
    store.update(run.id, { status: "completed", best_step: bestStep, test_metrics: test ? scalarMetrics(test) : null });
    return { run: store.getRun(run.id), validation, test, bestStep, pruned, epochs: done.step / plan.steps_per_epoch };
  } finally {
    store.close();
  }
}
