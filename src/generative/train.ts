// `hone train` for generative tasks (sft, dpo): read and check chat / prompt-completion / text /
// preference data -> render chat templates and loss masks in TypeScript -> pack -> binary shards
// -> the engine trains while we judge each evaluation -> best checkpoint -> test loss (and DPO
// rewards) once, generations against the reference answers -> reports. Resumable at any point.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../config/load.js";
import { isPairwise, resolveConfig, type ResolvedConfig, type ResolvedLm } from "../config/resolve.js";
import { probe, runEngine } from "../engine/process.js";
import type { EventOf, LmModelSpec, LmShard, LmTrainJob } from "../protocol/schema.js";
import { runtimeSpec } from "../predict/logits.js";
import { writeReports } from "../report/report.js";
import { runPaths } from "../run/artifacts.js";
import { RunStore, type RunRecord } from "../store/store.js";
import { readLogits, readU32, writeLmShard } from "../tokenize/shards.js";
import { HoneError } from "../util/errors.js";
import { sha256, writeFileAtomic, writeJsonAtomic } from "../util/fs.js";
import { readSpecialTokens } from "./chat-template.js";
import { promptAndAnswer, type LmExample, type LmFormat, type Turns } from "./data.js";
import { lmEncoder, loadLmDataset } from "./dataset.js";
import type { LmEncoder } from "./encode.js";
import { dpoMetrics, generationMetrics, lmMetricValue, rewardMetrics, sftMetrics, type LmMetrics } from "./metrics.js";
import { packSequences, paddingReport, type PaddingReport } from "./pack.js";
import type { TrainOptions, TrainResult, TrainUpdate } from "../train/train.js";
import { checkpointSteps, openForResume, stepDir, supervise } from "../train/supervise.js";

/** Fixed before training starts, saved with the run. */
export interface LmPlan {
  format: LmFormat;
  /** Examples per split (pairs for dpo). */
  counts: { train: number; validation: number; test: number };
  /** Rows of the train split: packed rows (sft with packing), sequences or pairs. */
  rows: number;
  steps_per_epoch: number;
  total_steps: number;
  warmup_steps: number;
  eval_every_steps: number;
  padding: PaddingReport | null;
  truncated: number;
  dropped: number;
  pad_token_id: number;
  stop_token_ids: number[];
  template: string | null;
}

/** A generation prompt with its reference answer. */
export interface Sample {
  origin: string;
  prompt: Turns;
  answer: string;
}

interface LmRunFiles {
  shards: { train: LmShard; validation: LmShard | null; test: LmShard | null };
  samples: { validation: Sample[]; test: Sample[] };
}

/** model/hone.json: what `hone generate`, `hone merge` and the server need besides the weights. */
export interface LmModelCard {
  task: "sft" | "dpo" | "reward";
  /** The base model directory; the run's model/ holds an adapter on top of it, or full weights. */
  base_model: string;
  adapter: "none" | "lora" | "dora";
  pad_token_id: number;
  stop_token_ids: number[];
  max_length: number;
  generation: ResolvedLm["generation"];
}

const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "generation_config.json"];


/** Every id that ends a turn: the tokenizer's eos token and the model's eos_token_id(s). */
function stopTokenIds(modelDir: string, encoder: LmEncoder): number[] {
  const ids = new Set<number>();
  if (encoder.eosId !== null) ids.add(encoder.eosId);
  for (const f of ["config.json", "generation_config.json"]) {
    const p = join(modelDir, f);
    if (!existsSync(p)) continue;
    const v = (JSON.parse(readFileSync(p, "utf8")) as { eos_token_id?: unknown }).eos_token_id;
    for (const id of Array.isArray(v) ? v : [v]) if (typeof id === "number") ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
}




async function prepareNewRun(store: RunStore, opts: TrainOptions, update: (u: TrainUpdate) => void) {
  update({ kind: "phase", text: "resolving config" });
  const loaded = loadConfig(opts.config ?? null, opts.set ?? [], opts.base ?? {});
  const cfg = resolveConfig(loaded, await probe());
  const lmCfg = cfg.lm!;

  update({ kind: "phase", text: "reading and checking data" });
  const ds = await loadLmDataset(cfg, (text) => update({ kind: "warning", text }), (text) => update({ kind: "phase", text }));
  const { examples, encoded, format, encoder, truncated, dropped } = ds;
  const flat = (split: "train" | "validation" | "test") => encoded[split].flat();
  const trainSeqs = flat("train");
  const lengths = trainSeqs.map((s) => s.ids.length);
  const rows = lmCfg.packing ? packSequences(lengths, cfg.data.max_length) : null;
  const nRows = rows ? rows.length : encoded.train.length;
  const t = cfg.train;
  // Each of the processes takes batch_size rows of a micro-batch (engine: lm_train.py).
  const stepsPerEpoch = Math.ceil(Math.ceil(nRows / (t.batch_size * (t.processes ?? 1))) / t.grad_accum);
  const total = t.max_steps ?? Math.max(1, Math.round(stepsPerEpoch * t.epochs));
  const padId = cfg.model.pad_token_id || (encoder.tokenId(readSpecialTokens(cfg.model.dir).pad ?? "") ?? encoder.eosId ?? 0);
  const stop = stopTokenIds(cfg.model.dir, encoder);
  if (stop.length === 0) throw new HoneError("model", "the model has no end-of-sequence token", [{ file: cfg.model.dir, message: "no eos_token in tokenizer_config.json and no eos_token_id in config.json", hint: "a generative model must know where an answer ends" }]);
  const plan: LmPlan = {
    format,
    counts: { train: encoded.train.length, validation: encoded.validation.length, test: encoded.test.length },
    rows: nRows,
    steps_per_epoch: stepsPerEpoch,
    total_steps: total,
    warmup_steps: Math.floor(total * t.warmup_ratio),
    eval_every_steps: Math.min(total, t.eval_every === "epoch" ? stepsPerEpoch : t.eval_every),
    padding: rows ? paddingReport(lengths, rows, t.batch_size, t.seed) : null,
    truncated,
    dropped,
    pad_token_id: padId,
    stop_token_ids: stop,
    template: encoder.template?.source.origin ?? null,
  };

  const run = store.createRun(cfg.task, cfg.name, cfg);
  const paths = runPaths(run.run_dir);
  writeJsonAtomic(paths.config, cfg);
  writeJsonAtomic(paths.plan, plan);
  const hash = sha256(JSON.stringify([examples.train, examples.validation, examples.test].map((s) => s.map(({ origin: _o, ...e }) => e))));
  store.update(run.id, { plan, data_hash: hash });

  // The run's model folder is self-contained: tokenizer, template, and (after training) weights.
  mkdirSync(paths.model, { recursive: true });
  for (const f of TOKENIZER_FILES) if (existsSync(join(cfg.model.dir, f))) copyFileSync(join(cfg.model.dir, f), join(paths.model, f));
  // A template given in the config travels with the run (the model's own was copied above).
  if (encoder.template && !encoder.template.source.origin.startsWith(cfg.model.dir + "/")) writeFileAtomic(join(paths.model, "chat_template.jinja"), encoder.template.source.text);

  // A reward model scores; it does not generate.
  const samples = (split: "validation" | "test"): Sample[] =>
    examples[split]
      .slice(0, cfg.task === "reward" ? 0 : lmCfg.generation.eval_samples)
      .map((e) => ({ e, pa: promptAndAnswer(e) }))
      .filter((x): x is { e: LmExample; pa: NonNullable<ReturnType<typeof promptAndAnswer>> } => x.pa !== null)
      .map(({ e, pa }) => ({ origin: e.origin, prompt: pa.prompt, answer: pa.answer }));
  const shard = (split: "validation" | "test") => (encoded[split].length === 0 ? null : writeLmShard(paths.data, split, flat(split), null));
  const files: LmRunFiles = {
    shards: { train: writeLmShard(paths.data, "train", trainSeqs, rows), validation: shard("validation"), test: shard("test") },
    samples: { validation: samples("validation"), test: samples("test") },
  };
  writeJsonAtomic(join(paths.data, "run-files.json"), files);
  for (const f of readdirSync(paths.data)) await store.addArtifact(run.id, "data", join(paths.data, f));
  return { run: store.getRun(run.id), cfg, plan, files };
}


/** The trained model of a run, as the engine loads it. */
export function trainedModelSpec(cfg: ResolvedConfig, modelDir: string, padId: number): LmModelSpec {
  const adapter = cfg.lm!.adapter.method !== "none";
  return { path: adapter ? cfg.model.dir : modelDir, adapter: adapter ? modelDir : null, architecture: architectureOf(cfg), head: headOf(cfg), dtype: cfg.lm!.base_weights, pad_token_id: padId };
}

/** The configured base model as the engine loads it (training starts from it; DPO's reference). */
function baseModelSpec(cfg: ResolvedConfig, padId: number): LmModelSpec {
  return { path: cfg.model.dir, adapter: null, architecture: architectureOf(cfg), head: headOf(cfg), dtype: cfg.lm!.base_weights, pad_token_id: padId };
}

const headOf = (cfg: ResolvedConfig): "lm" | "reward" => (cfg.task === "reward" ? "reward" : "lm");

/** Runs resolved before encoder-decoders were supported hold causal LMs. */
export function architectureOf(cfg: ResolvedConfig): "causal" | "seq2seq" {
  return cfg.lm!.architecture ?? "causal";
}

function lmMetricsOf(cfg: ResolvedConfig, stats: Record<string, string>, count: number): LmMetrics {
  const col = (name: string) => readLogits(stats[name]!, count, 1).map((r) => r[0]!);
  if (cfg.task === "dpo") return dpoMetrics(col("policy_logp"), col("reference_logp"), cfg.lm!.dpo.beta);
  if (cfg.task === "reward") return rewardMetrics(col("reward"));
  return sftMetrics(col("nll"), col("tokens"));
}

/** Generate for the samples and compare with their reference answers; writes report/samples.<split>.jsonl. */
async function generateSamples(cfg: ResolvedConfig, plan: LmPlan, run: RunRecord, samples: Sample[], split: string) {
  const paths = runPaths(run.run_dir);
  const gens = await generateTexts(cfg, plan, paths.model, samples.map((s) => s.prompt), join(run.run_dir, "predictions", split), {});
  const lines = samples.map((s, i) => JSON.stringify({ origin: s.origin, prompt: s.prompt, reference: s.answer, generation: gens.texts[i], stopped: gens.stopped[i] }));
  writeFileAtomic(join(paths.report, `samples.${split}.jsonl`), lines.join("\n") + "\n");
  return generationMetrics(samples.map((s) => s.answer), gens.texts, cfg.lm!.generation.labels);
}

export interface GenerateSettings {
  max_new_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
}

/** Generate with a run's model (tokenized and decoded here, generated by the engine). */
export async function generateTexts(cfg: ResolvedConfig, plan: LmPlan, modelDir: string, prompts: Turns[], outDir: string, s: GenerateSettings): Promise<{ texts: string[]; stopped: boolean[]; newTokensPerSecond: number }> {
  if (prompts.length === 0) return { texts: [], stopped: [], newTokensPerSecond: 0 };
  const encoder = lmEncoder(cfg, modelDir);
  const ids = await encoder.encodePrompts(prompts);
  const shard = writeLmShard(join(outDir, "prompts"), "prompts", ids.map((x) => ({ ids: x, mask: null })), null);
  const g = cfg.lm!.generation;
  const r = await runEngine({
    kind: "lm.generate",
    protocol_version: 1,
    model: trainedModelSpec(cfg, modelDir, plan.pad_token_id),
    prompts: shard,
    output_dir: outDir,
    max_new_tokens: s.max_new_tokens ?? g.max_new_tokens,
    temperature: s.temperature ?? g.temperature,
    top_p: s.top_p ?? g.top_p,
    seed: s.seed ?? cfg.train.seed,
    stop_token_ids: plan.stop_token_ids,
    batch_size: Math.min(cfg.train.eval_batch_size, 32),
    runtime: runtimeSpec(cfg),
  });
  const ev = r.events.find((e): e is EventOf<"generations"> => e.type === "generations")!;
  const tokens = readU32(ev.tokens);
  const offsets = readU32(ev.offsets);
  const stopped = readFileSync(ev.stopped);
  const texts: string[] = [];
  for (let i = 0; i < ev.count; i++) texts.push(await encoder.decode(tokens.subarray(offsets[i]!, offsets[i + 1]!)));
  return { texts, stopped: Array.from(stopped, (b) => b === 1), newTokensPerSecond: ev.new_tokens_per_s };
}

/** Loss / perplexity (sft) or rewards (dpo) of a run's final model on a shard (the test split, once). */
export async function scoreSplit(cfg: ResolvedConfig, plan: LmPlan, run: RunRecord, shard: LmShard, outDir = join(run.run_dir, "predictions")): Promise<LmMetrics> {
  const paths = runPaths(run.run_dir);
  const score = async (model: LmModelSpec, name: string) => {
    const r = await runEngine({ kind: "lm.score", protocol_version: 1, model, data: shard, pairs: isPairwise(cfg.task), output_dir: join(outDir, name), batch_size: cfg.train.eval_batch_size, runtime: runtimeSpec(cfg) });
    const ev = r.events.find((e): e is EventOf<"predictions"> => e.type === "predictions")!;
    return (column: string) => readLogits(ev.logits[column]!, ev.count, 1).map((x) => x[0]!);
  };
  const policy = await score(trainedModelSpec(cfg, paths.model, plan.pad_token_id), "test");
  if (cfg.task === "reward") return rewardMetrics(policy("reward"));
  if (cfg.task !== "dpo") return sftMetrics(policy("logp").map((v) => -v), policy("tokens"));
  const reference = await score(baseModelSpec(cfg, plan.pad_token_id), "test-reference");
  return dpoMetrics(policy("logp"), reference("logp"), cfg.lm!.dpo.beta);
}

export async function trainGenerative(store: RunStore, opts: TrainOptions, update: (u: TrainUpdate) => void): Promise<TrainResult> {
  let run: RunRecord;
  let cfg: ResolvedConfig;
  let plan: LmPlan;
  let files: LmRunFiles;
  let resumeFrom: number | null = null;
  if (opts.resume) {
    ({ run, cfg, plan, files, resumeFrom } = openForResume<LmPlan, LmRunFiles>(store, opts.resume));
  } else {
    ({ run, cfg, plan, files } = await prepareNewRun(store, opts, update));
  }
  update({ kind: "run", run, resumedFrom: resumeFrom });
  const paths = runPaths(run.run_dir);
  const lmCfg = cfg.lm!;
  store.update(run.id, { status: "running", error: null });

  const es = cfg.train.early_stopping as { metric: "loss" | "reward_accuracy" | "reward_margin"; patience: number; min_delta: number };
  const t = cfg.train;
  const job: LmTrainJob = {
    kind: "lm.train",
    protocol_version: 1,
    run_dir: run.run_dir,
    objective: cfg.task as "sft" | "dpo" | "reward",
    model: baseModelSpec(cfg, plan.pad_token_id),
    adapter: lmCfg.adapter,
    data: { train: files.shards.train, validation: files.shards.validation },
    optim: {
      seed: t.seed,
      lr: t.lr,
      weight_decay: t.weight_decay,
      betas: t.betas,
      eps: t.eps,
      max_grad_norm: t.max_grad_norm,
      scheduler: t.scheduler,
      warmup_steps: plan.warmup_steps,
      batch_size: t.batch_size,
      grad_accum: t.grad_accum,
      steps_per_epoch: plan.steps_per_epoch,
      total_steps: plan.total_steps,
      eval_batch_size: t.eval_batch_size,
    },
    freeze: t.freeze,
    dpo: lmCfg.dpo,
    eval_every: plan.eval_every_steps,
    runtime: { ...runtimeSpec(cfg), gradient_checkpointing: t.gradient_checkpointing ?? false, processes: t.processes ?? 1, fsdp: t.fsdp ?? false },
    resume_from: resumeFrom === null ? null : stepDir(paths.checkpoints, resumeFrom),
  };

  update({ kind: "phase", text: resumeFrom === null ? "training" : `resuming at step ${resumeFrom}` });
  const scalars = (m: LmMetrics) => Object.fromEntries(Object.entries(m).filter(([k, v]) => typeof v === "number" && k !== "count")) as Record<string, number>;
  const { done, best, pruned } = await supervise(job, {
    store,
    run,
    opts,
    update,
    selection: es,
    epochs: { stepsPerEpoch: plan.steps_per_epoch, totalSteps: plan.total_steps },
    judge: (ev) => {
      const m = lmMetricsOf(cfg, ev.logits, ev.count);
      return { value: lmMetricValue(m, es.metric), values: scalars(m) };
    },
    trainSeries: (ev) => ({ loss: ev.loss, lr: ev.lr, grad_norm: ev.grad_norm, tokens_per_s: ev.tokens_per_s }),
  });

  // ---- the result: best checkpoint -> the run's model folder ----
  const bestStep: number = best?.step ?? checkpointSteps(paths.checkpoints).at(-1) ?? done.step;
  const weightsDir = join(stepDir(paths.checkpoints, bestStep), "model");
  for (const f of readdirSync(weightsDir)) {
    if (f === "README.md") continue; // peft's model-card stub; the run's report says more
    const tmp = join(paths.model, `.${f}.tmp`);
    copyFileSync(join(weightsDir, f), tmp);
    renameSync(tmp, join(paths.model, f));
    await store.addArtifact(run.id, "model", join(paths.model, f));
  }
  const card: LmModelCard = { task: cfg.task as "sft" | "dpo" | "reward", base_model: cfg.model.dir, adapter: lmCfg.adapter.method, pad_token_id: plan.pad_token_id, stop_token_ids: plan.stop_token_ids, max_length: cfg.data.max_length, generation: lmCfg.generation };
  writeJsonAtomic(join(paths.model, "hone.json"), card);

  const bestEval = stepDir(paths.evals, bestStep);
  const names = cfg.task === "dpo" ? ["policy_logp", "reference_logp"] : cfg.task === "reward" ? ["reward"] : ["nll", "tokens"];
  const evalFiles = Object.fromEntries(names.map((n) => [n, join(bestEval, `${n}.logits.f32`)]));
  let validation: LmMetrics | null = files.shards.validation && Object.values(evalFiles).every((f) => existsSync(f)) ? lmMetricsOf(cfg, evalFiles, files.shards.validation.count) : null;

  let test: LmMetrics | null = null;
  if (opts.evaluateTest !== false) {
    if (files.shards.test) {
      update({ kind: "phase", text: `evaluating step ${bestStep} on the test split (${plan.counts.test} examples)` });
      test = await scoreSplit(cfg, plan, run, files.shards.test);
    }
    const split = files.samples.test.length > 0 ? "test" : "validation";
    const samples = files.samples[split];
    if (samples.length > 0) {
      update({ kind: "phase", text: `generating ${samples.length} ${split} answers` });
      const g = await generateSamples(cfg, plan, run, samples, split);
      if (split === "test" && test) test = { ...test, ...g };
      else if (validation) validation = { ...validation, ...g };
    }
    if (test) store.logMetrics(run.id, bestStep, "test", scalars(test));
  }
  await writeReports(store, run.id, { validation, test });
  store.update(run.id, { status: "completed", best_step: bestStep, test_metrics: test ? scalars(test) : null });
  return { run: store.getRun(run.id), validation, test, bestStep, pruned, epochs: done.step / plan.steps_per_epoch };
}
