// UserConfig -> ResolvedConfig: every "auto" decided, every path absolute, every default
// written out. Resolved once; everything downstream (data, engine job, store) sees only this.
import type { EventOf } from "../protocol/schema.js";
import { resolveModel, type ModelInfo } from "../models/catalog.js";
import type { SelectMetric } from "../metrics/classification.js";
import type { DataSource, UserConfig } from "./schema.js";
import type { Strategy } from "../hierarchy/strategies.js";
import type { Decode } from "../hierarchy/decode.js";
import { resolvePath, type LoadedConfig } from "./load.js";

export interface ResolvedSource {
  path: string;
  format: "auto" | "jsonl" | "json" | "csv" | "tsv";
  pointer: string | null;
  text: string;
  label: string;
}

export interface ResolvedTask {
  name: string;
  column: string;
  multi_label: boolean;
  loss_weight: number;
}

export interface ResolvedHierarchy {
  strategy: Strategy;
  separator: string;
  levels: string[] | null;
  /** Absolute path of the taxonomy file, or null. */
  taxonomy: string | null;
  decode: Decode;
  consistency_loss: number;
  /** Absent in runs made before level weights existed. */
  level_weights?: number[] | null;
  thresholds: number[] | null;
  target_precision: number | null;
}

export interface ResolvedConfig {
  version: 1;
  task: "classify" | "hierarchical";
  name: string | null;
  model: {
    /** As the user wrote it (catalog name or path). */
    ref: string;
    dir: string;
    model_type: string;
    hidden_size: number;
    num_layers: number;
    pooling: "cls" | "mean";
    dropout: number;
    encoder_dropout: number | null;
    pad_token_id: number;
    init_from: string | null;
  };
  data: {
    train: ResolvedSource;
    validation: ResolvedSource | null;
    test: ResolvedSource | null;
    multi_label: boolean;
    label_separator: string;
    split: { validation: number; test: number; seed: number; stratify: boolean };
    max_length: number;
    /** Extra heads (multi-task); absent in runs made before multi-task existed. */
    tasks?: ResolvedTask[];
  };
  /** Present for task: hierarchical. */
  hierarchy?: ResolvedHierarchy;
  train: {
    epochs: number;
    max_steps: number | null;
    lr: number;
    head_lr: number;
    batch_size: number;
    grad_accum: number;
    warmup_ratio: number;
    scheduler: "linear" | "cosine" | "constant";
    weight_decay: number;
    betas: [number, number];
    eps: number;
    label_smoothing: number;
    max_grad_norm: number | null;
    seed: number;
    device: "cpu" | "cuda";
    precision: "fp32" | "bf16";
    threads: number | null;
    eval_every: number | "epoch";
    eval_batch_size: number;
    compile: boolean;
    group_by_length: boolean;
    early_stopping: { metric: SelectMetric; patience: number; min_delta: number };
    freeze: { embeddings: boolean; layers: number; patterns: string[] };
  };
}

export type MachineProbe = EventOf<"probe">;

/** Smaller models tolerate (and need) larger steps. */
export function defaultLearningRate(hiddenSize: number): number {
  if (hiddenSize <= 384) return 1e-4;
  if (hiddenSize <= 768) return 5e-5;
  return 2e-5;
}

function source(src: DataSource | null, baseDir: string, cfg: UserConfig["data"]): ResolvedSource | null {
  if (src === null) return null;
  if (typeof src === "string") return { path: resolvePath(baseDir, src), format: "auto", pointer: null, text: cfg.text, label: cfg.label };
  return { path: resolvePath(baseDir, src.path), format: src.format, pointer: src.pointer ?? null, text: src.text ?? cfg.text, label: src.label ?? cfg.label };
}

export function resolveConfig(loaded: LoadedConfig, machine: MachineProbe, model?: ModelInfo): ResolvedConfig {
  const { config: c, baseDir } = loaded;
  const info = model ?? resolveModel(c.model.path, baseDir);
  const device = c.train.device === "auto" ? (machine.cuda ? "cuda" : "cpu") : c.train.device;
  const precision = c.train.precision === "auto" ? (device === "cuda" && machine.bf16 ? "bf16" : "fp32") : c.train.precision;
  const lr = c.train.lr === "auto" ? defaultLearningRate(info.hiddenSize) : c.train.lr;
  return {
    version: 1,
    task: c.task,
    name: c.name ?? null,
    model: {
      ref: c.model.path,
      dir: info.dir,
      model_type: info.modelType,
      hidden_size: info.hiddenSize,
      num_layers: info.numLayers,
      pooling: c.model.pooling === "auto" ? info.nativePooling : c.model.pooling,
      dropout: c.model.dropout,
      encoder_dropout: c.model.encoder_dropout,
      pad_token_id: info.padTokenId,
      init_from: c.model.init_from,
    },
    data: {
      train: source(c.data.train, baseDir, c.data)!,
      validation: source(c.data.validation, baseDir, c.data),
      test: source(c.data.test, baseDir, c.data),
      multi_label: c.data.multi_label,
      label_separator: c.data.label_separator,
      split: c.data.split,
      max_length: c.data.max_length,
      tasks: Object.entries(c.data.tasks).map(([name, t]) => ({ name, ...t })),
    },
    ...(c.task === "hierarchical" ? { hierarchy: { ...c.hierarchy, taxonomy: c.hierarchy.taxonomy === null ? null : resolvePath(baseDir, c.hierarchy.taxonomy) } } : {}),
    train: {
      ...c.train,
      lr,
      head_lr: c.train.head_lr === "auto" ? lr : c.train.head_lr,
      device,
      precision,
      threads: device === "cpu" ? (c.train.threads === "auto" ? machine.cpu_threads : c.train.threads) : null,
      early_stopping: {
        ...c.train.early_stopping,
        metric: c.train.early_stopping.metric === "auto" ? (c.data.multi_label ? "micro_f1" : "accuracy") : c.train.early_stopping.metric,
      },
    },
  };
}

/** What follows from the resolved config and the data: fixed before training starts, saved with the run. */
export interface TrainingPlan {
  labels: string[];
  counts: { train: number; validation: number; test: number };
  steps_per_epoch: number;
  total_steps: number;
  warmup_steps: number;
  eval_every_steps: number;
}

export function planTraining(cfg: ResolvedConfig, labels: string[], counts: TrainingPlan["counts"]): TrainingPlan {
  const t = cfg.train;
  const micro = Math.ceil(counts.train / t.batch_size);
  const stepsPerEpoch = Math.ceil(micro / t.grad_accum);
  const total = t.max_steps ?? Math.max(1, Math.round(stepsPerEpoch * t.epochs));
  return {
    labels,
    counts,
    steps_per_epoch: stepsPerEpoch,
    total_steps: total,
    warmup_steps: Math.floor(total * t.warmup_ratio),
    eval_every_steps: Math.min(total, t.eval_every === "epoch" ? stepsPerEpoch : t.eval_every),
  };
}
