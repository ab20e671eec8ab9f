// Logits of a trained run on any texts: tokenize in TypeScript, run the engine's predict job.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import type { ResolvedConfig } from "../config/resolve.js";
import { runEngine, type EngineHandlers } from "../engine/process.js";
import type { RuntimeSpec, ClassifyPredictJob, ClassifyTrainJob, TokenShard } from "../protocol/schema.js";
import { PROTOCOL_VERSION } from "../protocol/schema.js";
import { loadTokenizer } from "../tokenize/tokenizer.js";
import { writeShard } from "../tokenize/shards.js";
import type { EventOf } from "../protocol/schema.js";
import { headSpecs, type HeadPlan } from "../classifier/heads.js";
import { readHeadLogits, type HeadLogits } from "../classifier/evaluate.js";

export function modelSpec(cfg: ResolvedConfig, dir = cfg.model.dir, initFrom: { weights: string; heads: boolean } | null = null): ClassifyPredictJob["model"] {
  return {
    path: dir,
    pooling: cfg.model.pooling,
    dropout: cfg.model.dropout,
    encoder_dropout: cfg.model.encoder_dropout,
    init_from: initFrom?.weights ?? null,
    init_heads: initFrom?.heads ?? false,
    pad_token_id: cfg.model.pad_token_id,
  };
}

export function runtimeSpec(cfg: ResolvedConfig): RuntimeSpec {
  // Runs resolved before `compile` existed have no such field: they trained without it.
  return { device: cfg.train.device, precision: cfg.train.precision, threads: cfg.train.threads, compile: cfg.train.compile ?? false };
}

/** The optimizer and schedule of an encoder's training job (classifiers, token tasks). */
export function encoderOptim(cfg: ResolvedConfig, plan: { warmup_steps: number; steps_per_epoch: number; total_steps: number }): ClassifyTrainJob["optim"] {
  return {
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
  };
}

/** The engine's training job of an encoder task: what differs between tasks is their heads, the
 * data and where the weights start. */
export function encoderTrainJob(
  c: { run: { run_dir: string }; cfg: ResolvedConfig; plan: { warmup_steps: number; steps_per_epoch: number; total_steps: number; eval_every_steps: number } },
  resume: { resumeFrom: string | null; evalFirst: boolean },
  parts: Pick<ClassifyTrainJob, "heads" | "couplings" | "data"> & {
    initFrom?: { weights: string; heads: boolean } | null;
    contrastive?: ClassifyTrainJob["contrastive"];
    headInit?: ClassifyTrainJob["head_init"];
  },
): ClassifyTrainJob {
  return {
    kind: "classify.train",
    protocol_version: PROTOCOL_VERSION,
    run_dir: c.run.run_dir,
    model: modelSpec(c.cfg, c.cfg.model.dir, parts.initFrom ?? null),
    heads: parts.heads,
    couplings: parts.couplings,
    data: parts.data,
    optim: encoderOptim(c.cfg, c.plan),
    freeze: c.cfg.train.freeze,
    eval_every: c.plan.eval_every_steps,
    runtime: runtimeSpec(c.cfg),
    resume_from: resume.resumeFrom,
    eval_first: resume.evalFirst,
    contrastive: parts.contrastive ?? null,
    head_init: parts.headInit ?? null,
  };
}

export interface ShardPrediction {
  cfg: ResolvedConfig;
  plan: Pick<HeadPlan, "heads">;
  /** Directory with config.json and tokenizer.json of the trained model. */
  modelDir: string;
  weights: string;
  shard: TokenShard;
  outDir: string;
  handlers?: EngineHandlers;
}

export interface PredictOutput {
  logits: HeadLogits;
  samplesPerSecond: number;
}

/** Run the engine's predict job over a token shard and read back the logits. */
export async function predictShard(p: ShardPrediction): Promise<PredictOutput> {
  const result = await runEngine(
    {
      kind: "classify.predict",
      protocol_version: PROTOCOL_VERSION,
      model: modelSpec(p.cfg, p.modelDir),
      heads: headSpecs(p.plan, p.cfg.train.label_smoothing),
      weights: p.weights,
      data: p.shard,
      output_dir: p.outDir,
      batch_size: p.cfg.train.eval_batch_size,
      runtime: runtimeSpec(p.cfg),
    },
    p.handlers,
  );
  const ev = result.events.find((e): e is EventOf<"predictions"> => e.type === "predictions")!;
  const tokens = statSync(p.shard.tokens).size / 4; // uint32 ids: the rows of token-level heads
  return { logits: readHeadLogits(p.plan, ev.logits, p.shard.count, tokens), samplesPerSecond: ev.samples_per_s };
}

/** Logits for raw texts: tokenize (the same tokenizer as training), shard, predict. */
export async function predictTexts(p: Omit<ShardPrediction, "shard" | "outDir">, texts: string[]): Promise<PredictOutput> {
  const work = mkdtempSync(join(tmpdir(), "hone-predict-"));
  try {
    const ids = await loadTokenizer(p.modelDir, p.cfg.data.max_length).encode(texts);
    const shard = writeShard(join(work, "data"), "input", ids, []);
    return await predictShard({ ...p, shard, outDir: join(work, "out") });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
