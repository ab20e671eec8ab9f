// Generative tasks (sft, dpo, reward): one pipeline, told by each task's objective what it
// learns. The plug-in's steps: read and check chat / prompt-completion / text / preference data ->
// render chat templates and loss masks in TypeScript -> pack -> binary shards -> the engine's
// lm.train job -> metrics of each evaluation from its per-sequence statistics -> the best
// checkpoint as the model -> test metrics once, generations against the reference answers.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveLm, type ResolvedConfig, type ResolvedLm, type TaskConfigHooks } from "../config/resolve.js";
import { storedConfig } from "../config/resolved.js";
import type { ModelInfo } from "../models/catalog.js";
import type { UserConfig } from "../config/schema.js";
import { runEngine } from "../engine/process.js";
import type { EventOf, LmModelSpec, LmShard, LmTrainJob } from "../protocol/schema.js";
import { PROTOCOL_VERSION } from "../protocol/schema.js";
import { runtimeSpec } from "../predict/logits.js";
import { runPaths } from "../run/artifacts.js";
import type { RunRecord, RunStore } from "../store/store.js";
import { readLogits, readU32, writeLmShard } from "../tokenize/shards.js";
import { HoneError } from "../util/errors.js";
import { sha256, writeFileAtomic, writeJsonAtomic } from "../util/fs.js";
import { readSpecialTokens } from "./chat-template.js";
import { commonFormat, promptAndAnswer, type LmExample, type LmFormat, type Turns } from "./data.js";
import { lmEncoder, loadLmDataset, readLmExamples, type Split } from "./dataset.js";
import type { PreferenceData } from "./preference.js";
import type { LmEncoder } from "./encode.js";
import { estimateMemory } from "./memory.js";
import { generationMetrics, lmMetricValue, type LmMetrics } from "./metrics.js";
import { packSequences, paddingReport, type PaddingReport } from "./pack.js";
import { inspectLmData, renderLmInspect, renderLmMetrics } from "./render.js";
import { stepDir } from "../run/checkpoints.js";
import type { EvaluateOptions, PlanBase, RunContext, TaskPlugin } from "../run/types.js";

/** What a generative task learns: everything the shared pipeline needs to know about it. */
export interface LmObjective {
  /** The engine's objective (LmTrainJob.objective). */
  name: "sft" | "dpo" | "reward";
  /** The model's output: next-token logits, or a scalar reward per sequence. */
  head: "lm" | "reward";
  /** Trained on preference pairs (sequences 2i, 2i+1 = chosen, rejected). */
  pairwise: boolean;
  /** Its model writes answers: samples are generated after training, `hone generate` works. */
  generates: boolean;
  /** Short examples share rows of max_length tokens. */
  packs: boolean;
  /** Model kinds it cannot train, with the reason (throw a HoneError). */
  check(c: UserConfig, info: ModelInfo): void;
  /** The data format it reads, checked against what the files hold. */
  checkFormat(format: LmFormat, origin: string, cfg: ResolvedConfig): void;
  /** What it makes of a split's examples before they are encoded (default: nothing). */
  prepare?(examples: LmExample[], cfg: ResolvedConfig): LmExample[];
  /** Per-pair labels stored with a shard (KTO's desirable flags), or null. */
  labels?(examples: LmExample[], cfg: ResolvedConfig): Uint8Array | null;
  selection: TaskConfigHooks["selection"];
  defaultLr(hiddenSize: number, adapter: boolean): number;
  /** The validation metric drawn on the report's curves. */
  curve: string;
  /** Per-sequence statistics the engine writes at each evaluation. */
  evalColumns: string[];
  /** Metrics from those columns. */
  evalMetrics(column: (name: string) => number[], cfg: ResolvedConfig, data: PreferenceData): LmMetrics;
  /** Metrics of a finished model on a shard; `score(reference)` scores it with the trained model or the base. */
  scoreMetrics(score: (reference: boolean) => Promise<(column: string) => number[]>, cfg: ResolvedConfig, data: PreferenceData): Promise<LmMetrics>;
}

/** Fixed before training starts, saved with the run. */
export interface LmPlan extends PlanBase {
  format: LmFormat;
  /** Rows of the train split: packed rows (sft with packing), sequences or pairs. */
  rows: number;
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

export interface LmRunFiles {
  shards: { train: LmShard; validation: LmShard | null; test: LmShard | null };
  samples: { validation: Sample[]; test: Sample[] };
}

/** model/hone.json: what `hone generate`, `hone merge` and the server need besides the weights. */
export interface LmModelCard {
  task: string;
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
export function stopTokenIds(modelDir: string, encoder: LmEncoder): number[] {
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

export interface FinishedLmRun {
  run: RunRecord;
  cfg: ResolvedConfig;
  plan: LmPlan;
  modelDir: string;
}

/** A generative run whose training completed, or a usage error saying how to finish it. */
export function finishedLmRun(run: RunRecord, cfg: ResolvedConfig): FinishedLmRun {
  const modelDir = runPaths(run.run_dir).model;
  if (run.status !== "completed" || !existsSync(join(modelDir, "hone.json"))) {
    throw new HoneError("usage", `run ${run.id} has no final model (status: ${run.status})`, [
      { message: "training did not complete", hint: `continue it with: hone train --resume ${run.id}` },
    ]);
  }
  return { run, cfg, plan: run.plan as LmPlan, modelDir };
}

/** The trained model of a run, as the engine loads it. */
export function trainedModelSpec(cfg: ResolvedConfig, modelDir: string, padId: number): LmModelSpec {
  const adapter = cfg.lm!.adapter.method !== "none";
  return {
    path: adapter ? cfg.model.dir : modelDir,
    adapter: adapter ? modelDir : null,
    architecture: architectureOf(cfg),
    head: cfg.lm!.head,
    dtype: cfg.lm!.base_weights,
    pad_token_id: padId,
  };
}

/** The configured base model as the engine loads it (training starts from it; DPO's reference). */
function baseModelSpec(cfg: ResolvedConfig, padId: number): LmModelSpec {
  return { path: cfg.model.dir, adapter: null, architecture: architectureOf(cfg), head: cfg.lm!.head, dtype: cfg.lm!.base_weights, pad_token_id: padId };
}

/** Runs resolved before encoder-decoders were supported hold causal LMs. */
export function architectureOf(cfg: ResolvedConfig): "causal" | "seq2seq" {
  return cfg.lm!.architecture ?? "causal";
}

/** Generate for the samples and compare with their reference answers; writes report/samples.<split>.jsonl. */
async function generateSamples(cfg: ResolvedConfig, plan: LmPlan, run: RunRecord, samples: Sample[], split: string) {
  const paths = runPaths(run.run_dir);
  const gens = await generateTexts(
    cfg,
    plan,
    paths.model,
    samples.map((s) => s.prompt),
    join(run.run_dir, "predictions", split),
    {},
  );
  const lines = samples.map((s, i) =>
    JSON.stringify({ origin: s.origin, prompt: s.prompt, reference: s.answer, generation: gens.texts[i], stopped: gens.stopped[i] }),
  );
  writeFileAtomic(join(paths.report, `samples.${split}.jsonl`), `${lines.join("\n")}\n`);
  return generationMetrics(
    samples.map((s) => s.answer),
    gens.texts,
    cfg.lm!.generation.labels,
  );
}

export interface GenerateSettings {
  /** Generate with the configured base model instead of the run's (its starting point). */
  base?: boolean;
  max_new_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
}

/** Generate with a run's model (tokenized and decoded here, generated by the engine). */
export async function generateTexts(
  cfg: ResolvedConfig,
  plan: LmPlan,
  modelDir: string,
  prompts: Turns[],
  outDir: string,
  s: GenerateSettings,
): Promise<{ texts: string[]; stopped: boolean[]; newTokensPerSecond: number }> {
  if (prompts.length === 0) return { texts: [], stopped: [], newTokensPerSecond: 0 };
  const encoder = lmEncoder(cfg, modelDir);
  const ids = await encoder.encodePrompts(prompts);
  const shard = writeLmShard(
    join(outDir, "prompts"),
    "prompts",
    ids.map((x) => ({ ids: x, mask: null })),
    null,
  );
  const g = cfg.lm!.generation;
  const r = await runEngine({
    kind: "lm.generate",
    protocol_version: PROTOCOL_VERSION,
    model: s.base ? baseModelSpec(cfg, plan.pad_token_id) : trainedModelSpec(cfg, modelDir, plan.pad_token_id),
    prompts: shard,
    output_dir: outDir,
    max_new_tokens: s.max_new_tokens ?? g.max_new_tokens,
    temperature: s.temperature ?? g.temperature,
    top_p: s.top_p ?? g.top_p,
    seed: s.seed ?? cfg.train.seed,
    stop_token_ids: plan.stop_token_ids,
    batch_size: Math.min(cfg.train.eval_batch_size, 32),
    chunks: null,
    runtime: runtimeSpec(cfg),
  });
  const ev = r.events.find((e): e is EventOf<"generations"> => e.type === "generations")!;
  const texts = await decodeGenerations(encoder, ev);
  const stopped = readFileSync(ev.stopped);
  return { texts, stopped: Array.from(stopped, (b) => b === 1), newTokensPerSecond: ev.new_tokens_per_s };
}

/** The texts of a `generations` event: its token shard cut at its offsets, each decoded. */
export async function decodeGenerations(encoder: LmEncoder, ev: EventOf<"generations">): Promise<string[]> {
  const tokens = readU32(ev.tokens);
  const offsets = readU32(ev.offsets);
  const texts: string[] = [];
  for (let i = 0; i < ev.count; i++) texts.push(await encoder.decode(tokens.subarray(offsets[i]!, offsets[i + 1]!)));
  return texts;
}

/** Metrics of a run's final model on a shard (the test split, once, or a file). */
export async function scoreSplit(
  objective: LmObjective,
  cfg: ResolvedConfig,
  plan: LmPlan,
  modelDir: string,
  shard: LmShard,
  outDir: string,
): Promise<LmMetrics> {
  const score = async (reference: boolean) => {
    const model = reference ? baseModelSpec(cfg, plan.pad_token_id) : trainedModelSpec(cfg, modelDir, plan.pad_token_id);
    const name = reference ? "test-reference" : "test";
    const r = await runEngine({
      kind: "lm.score",
      protocol_version: PROTOCOL_VERSION,
      model,
      data: shard,
      pairs: objective.pairwise,
      output_dir: join(outDir, name),
      batch_size: cfg.train.eval_batch_size,
      runtime: runtimeSpec(cfg),
    });
    const ev = r.events.find((e): e is EventOf<"predictions"> => e.type === "predictions")!;
    return (column: string) => readLogits(ev.logits[column]!, ev.count, 1).map((x) => x[0]!);
  };
  return objective.scoreMetrics(score, cfg, shardData(shard, plan.format));
}

/** What the metrics of a shard read besides the engine's statistics. */
function shardData(shard: LmShard | null, format: LmFormat): PreferenceData {
  return { labels: shard?.labels ? readFileSync(shard.labels) : null, format };
}

/** The padding id and the ids that end an answer, of the configured model. */
export function specialIds(cfg: ResolvedConfig, encoder: LmEncoder): { padId: number; stop: number[] } {
  const padId = cfg.model.pad_token_id || (encoder.tokenId(readSpecialTokens(cfg.model.dir).pad ?? "") ?? encoder.eosId ?? 0);
  const stop = stopTokenIds(cfg.model.dir, encoder);
  if (stop.length === 0)
    throw new HoneError("model", "the model has no end-of-sequence token", [
      {
        file: cfg.model.dir,
        message: "no eos_token in tokenizer_config.json and no eos_token_id in config.json",
        hint: "a generative model must know where an answer ends",
      },
    ]);
  return { padId, stop };
}

/** The run's model folder is self-contained: tokenizer, template, and (after training) weights. */
export function writeModelFolder(cfg: ResolvedConfig, encoder: LmEncoder, modelDir: string): void {
  mkdirSync(modelDir, { recursive: true });
  for (const f of TOKENIZER_FILES) if (existsSync(join(cfg.model.dir, f))) copyFileSync(join(cfg.model.dir, f), join(modelDir, f));
  // A template given in the config travels with the run (the model's own was copied above).
  if (encoder.template && !encoder.template.source.origin.startsWith(`${cfg.model.dir}/`))
    writeFileAtomic(join(modelDir, "chat_template.jinja"), encoder.template.source.text);
}

/** The best checkpoint's weights become the run's model, with the card `hone generate` reads. */
export async function installModel(c: RunContext<LmPlan, unknown>, bestStep: number): Promise<void> {
  const { store, run, cfg, plan, paths } = c;
  const lmCfg = cfg.lm!;
  const weightsDir = join(stepDir(paths.checkpoints, bestStep), "model");
  for (const f of readdirSync(weightsDir)) {
    if (f === "README.md") continue; // peft's model-card stub; the run's report says more
    const tmp = join(paths.model, `.${f}.tmp`);
    copyFileSync(join(weightsDir, f), tmp);
    renameSync(tmp, join(paths.model, f));
    await store.addArtifact(run.id, "model", join(paths.model, f));
  }
  const card: LmModelCard = {
    task: cfg.task,
    base_model: cfg.model.dir,
    adapter: lmCfg.adapter.method,
    pad_token_id: plan.pad_token_id,
    stop_token_ids: plan.stop_token_ids,
    max_length: cfg.data.max_length,
    generation: lmCfg.generation,
  };
  writeJsonAtomic(join(paths.model, "hone.json"), card);
}

/** The optimizer settings of a generative job, from the config and the plan. */
export function optimSpec(cfg: ResolvedConfig, plan: PlanBase): LmTrainJob["optim"] {
  const t = cfg.train;
  return {
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
  };
}

/** Bytes of a generative run's weights (a search's model_mb objective). */
export function lmModelBytes(run: RunRecord): number {
  const dir = runPaths(run.run_dir).model;
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(".safetensors"))
        .reduce((n, f) => n + statSync(join(dir, f)).size, 0)
    : 0;
}

/** The config hooks of a generative task. */
function lmConfig(objective: LmObjective): TaskConfigHooks {
  return {
    model: "generator",
    defaultModel: "smollm2-135m-instruct",
    defaultMaxLength: 1024,
    defaultLr: objective.defaultLr,
    selection: objective.selection,
    check: objective.check,
    section: (c, ctx) => ({ lm: { ...resolveLm(c, ctx, objective.packs), head: objective.head } }),
  };
}

/** The plug-in of a generative task, from what it learns. (Long: an object of the plug-in's short
 * steps, each read on its own.) */
export function lmTask(objective: LmObjective, summary: string): TaskPlugin<LmPlan, LmRunFiles, LmMetrics> {
  const scalars = (m: LmMetrics) => Object.fromEntries(Object.entries(m).filter(([k, v]) => typeof v === "number" && k !== "count")) as Record<string, number>;
  return {
    name: objective.name,
    summary,
    config: lmConfig(objective),
    serves: objective.generates ? "chat" : null,
    generates: objective.generates,

    async stage(cfg, { update }) {
      const lmCfg = cfg.lm!;
      const ds = await loadLmDataset(
        cfg,
        (f, o) => objective.checkFormat(f, o, cfg),
        (text) => update({ kind: "warning", text }),
        (text) => update({ kind: "phase", text }),
        objective.prepare && ((e) => objective.prepare!(e, cfg)),
      );
      const { examples, encoded, format, encoder, truncated, dropped } = ds;
      const flat = (split: "train" | "validation" | "test") => encoded[split].flat();
      const trainSeqs = flat("train");
      const lengths = trainSeqs.map((x) => x.ids.length);
      const rows = lmCfg.packing ? packSequences(lengths, cfg.data.max_length) : null;
      const nRows = rows ? rows.length : encoded.train.length;
      const t = cfg.train;
      // Each of the processes (on every node) takes batch_size rows of a micro-batch (engine: lm_train.py).
      const world = (t.processes ?? 1) * (t.nodes?.count ?? 1);
      const stepsPerEpoch = Math.ceil(Math.ceil(nRows / (t.batch_size * world)) / t.grad_accum);
      const total = t.max_steps ?? Math.max(1, Math.round(stepsPerEpoch * t.epochs));
      const { padId, stop } = specialIds(cfg, encoder);
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
        memory_estimate: estimateMemory(cfg, objective.pairwise),
      };
      const dataHash = sha256(JSON.stringify([examples.train, examples.validation, examples.test].map((x) => x.map(({ origin: _o, ...e }) => e))));
      return {
        plan,
        dataHash,
        parents: [],
        async write(paths) {
          writeModelFolder(cfg, encoder, paths.model);
          // Samples for generation after training (a model that does not write answers gets none).
          const samples = (split: "validation" | "test"): Sample[] =>
            examples[split]
              .slice(0, objective.generates ? lmCfg.generation.eval_samples : 0)
              .map((e) => ({ e, pa: promptAndAnswer(e) }))
              .filter((x): x is { e: LmExample; pa: NonNullable<ReturnType<typeof promptAndAnswer>> } => x.pa !== null)
              .map(({ e, pa }) => ({ origin: e.origin, prompt: pa.prompt, answer: pa.answer }));
          const labels = (split: Split) => objective.labels?.(examples[split], cfg) ?? null;
          const shard = (split: "validation" | "test") =>
            encoded[split].length === 0 ? null : writeLmShard(paths.data, split, flat(split), null, labels(split));
          return {
            shards: { train: writeLmShard(paths.data, "train", trainSeqs, rows, labels("train")), validation: shard("validation"), test: shard("test") },
            samples: { validation: samples("validation"), test: samples("test") },
          };
        },
      };
    },

    trainJob({ run, cfg, plan, files }, resume): LmTrainJob {
      const t = cfg.train;
      const lmCfg = cfg.lm!;
      return {
        kind: "lm.train",
        protocol_version: PROTOCOL_VERSION,
        run_dir: run.run_dir,
        objective: objective.name,
        model: baseModelSpec(cfg, plan.pad_token_id),
        adapter: lmCfg.adapter,
        data: { train: files.shards.train, validation: files.shards.validation },
        optim: optimSpec(cfg, plan),
        freeze: t.freeze,
        dpo: lmCfg.dpo,
        eval_every: plan.eval_every_steps,
        runtime: {
          ...runtimeSpec(cfg),
          gradient_checkpointing: t.gradient_checkpointing ?? false,
          processes: t.processes ?? 1,
          nodes: t.nodes?.count ?? 1,
          fsdp: t.fsdp ?? false,
          optimizer_offload: t.optimizer_offload ?? false,
          activation_budget: t.activation_budget ?? 1,
        },
        resume_from: resume.resumeFrom,
        eval_first: resume.evalFirst,
      };
    },

    judge({ cfg, plan, files }, ev, metric) {
      const m = objective.evalMetrics(
        (name) => readLogits(ev.logits[name]!, ev.count, 1).map((r) => r[0]!),
        cfg,
        shardData(files.shards.validation, plan.format),
      );
      return { value: lmMetricValue(m, metric as "loss"), values: scalars(m) };
    },

    trainSeries: (ev) => ({ loss: ev.loss, lr: ev.lr, grad_norm: ev.grad_norm, tokens_per_s: ev.tokens_per_s }),

    async finalise(c, bestStep, evaluateTest) {
      const { run, cfg, plan, files, paths, update } = c;
      await installModel(c, bestStep);

      const bestEval = stepDir(paths.evals, bestStep);
      const evalFiles = Object.fromEntries(objective.evalColumns.map((n) => [n, join(bestEval, `${n}.logits.f32`)]));
      const count = files.shards.validation?.count ?? 0;
      let validation: LmMetrics | null =
        count > 0 && Object.values(evalFiles).every((f) => existsSync(f))
          ? objective.evalMetrics((n) => readLogits(evalFiles[n]!, count, 1).map((r) => r[0]!), cfg, shardData(files.shards.validation, plan.format))
          : null;

      let test: LmMetrics | null = null;
      if (!evaluateTest) return { validation, test };
      if (files.shards.test) {
        update({ kind: "phase", text: `evaluating step ${bestStep} on the test split (${plan.counts.test} examples)` });
        test = await scoreSplit(objective, cfg, plan, paths.model, files.shards.test, join(run.run_dir, "predictions"));
      }
      const split = files.samples.test.length > 0 ? "test" : "validation";
      const samples = files.samples[split];
      if (samples.length > 0) {
        update({ kind: "phase", text: `generating ${samples.length} ${split} answers` });
        const g = await generateSamples(cfg, plan, run, samples, split);
        if (split === "test" && test) test = { ...test, ...g };
        else if (validation) validation = { ...validation, ...g };
      }
      return { validation, test };
    },

    scalars,
    // Runs made before task plug-ins lack the head in their resolved config.
    upgradeConfig: (stored) => {
      const lm = stored.lm as Record<string, unknown> | undefined;
      return lm && !lm.head ? { ...stored, lm: { ...lm, head: objective.head } } : stored;
    },

    async evaluate(_store: RunStore, run: RunRecord, opts: EvaluateOptions) {
      const { cfg, plan, modelDir } = finishedLmRun(run, storedConfig(run.id, run.config));
      if (!opts.data) {
        const file = join(runPaths(run.run_dir).report, "metrics.test.json");
        if (!existsSync(file))
          throw new HoneError("usage", `run ${run.id} has no test split`, [
            { message: "its data had no test file and split.test was 0", hint: "evaluate on a file: hone eval RUN --data test.jsonl" },
          ]);
        return { metrics: JSON.parse(readFileSync(file, "utf8")) as LmMetrics, source: "test split (evaluated once, after training)" };
      }
      const read = readLmExamples(opts.data, cfg, plan.format);
      objective.checkFormat(commonFormat([{ examples: read, shown: opts.data }]), opts.data, cfg);
      const examples = objective.prepare ? objective.prepare(read, cfg) : read;
      const { sequences } = await lmEncoder(cfg, modelDir).encode(examples);
      const kept = examples.filter((_, i) => sequences[i]!.length > 0);
      const work = mkdtempSync(join(tmpdir(), "hone-eval-"));
      try {
        const shard = writeLmShard(work, "eval", sequences.flat(), null, objective.labels?.(kept, cfg) ?? null);
        return { metrics: await scoreSplit(objective, cfg, plan, modelDir, shard, work), source: opts.data };
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },

    renderMetrics: (m) => renderLmMetrics(m),
    headline: (t) => {
      if (!t) return "";
      if (t.perplexity !== undefined && t.exact_match === undefined) return `ppl ${(t.perplexity as number).toFixed(4)}`;
      const v = (t.exact_match ?? t.reward_accuracy) as number | undefined;
      return v === undefined ? "" : `${(v * 100).toFixed(2)}%`;
    },
    curveMetric: () => objective.curve,
    modelBytes: lmModelBytes,
    async inspect(cfg) {
      const report = await inspectLmData(cfg, (f, o) => objective.checkFormat(f, o, cfg), objective.prepare && ((e) => objective.prepare!(e, cfg)));
      return { report, text: renderLmInspect(report) };
    },
  };
}

/** For tasks that learn from preference pairs: the data must hold them. */
export function preferencePairsOnly(task: string) {
  return (format: LmFormat, origin: string): void => {
    if (format === "preference") return;
    throw new HoneError("data", `${task} needs preference pairs`, [
      {
        file: origin,
        message: `the data holds ${format} rows`,
        hint: 'rows like {"prompt": ..., "chosen": ..., "rejected": ...} (or OpenAI\'s preferred_output / non_preferred_output)',
      },
    ]);
  };
}

/** For tasks built for causal LMs only. */
export function causalOnly(task: string, info: ModelInfo): void {
  if (!info.seq2seqLm) return;
  throw new HoneError("config", `task ${task} is not built for encoder-decoder models`, [
    {
      path: ["task"],
      message: `${info.modelType} is an encoder-decoder (seq2seq) model; Hone fine-tunes those with task: sft`,
      hint: "use task: sft, or a causal LM (Llama, Qwen, SmolLM...) for dpo",
    },
  ]);
}

/** Metrics a preference task may select its best checkpoint by. */
export const PAIRWISE_SELECTION: TaskConfigHooks["selection"] = { allowed: ["loss", "reward_accuracy", "reward_margin"], auto: () => "reward_accuracy" };
