// UserConfig -> ResolvedConfig: every "auto" decided, every path absolute, every default
// written out. Resolved once; everything downstream (data, engine job, store) sees only this.
import type { EventOf } from "../protocol/schema.js";
import { DEFAULT_LM, DEFAULT_MODEL, resolveModel, type ModelInfo } from "../models/catalog.js";
import type { SelectMetric } from "../metrics/classification.js";
import type { DataSource, UserConfig } from "./schema.js";
import type { Strategy } from "../hierarchy/strategies.js";
import type { Decode } from "../hierarchy/decode.js";
import { resolvePath, type LoadedConfig } from "./load.js";
import { HoneError } from "../util/errors.js";
import { BUILTIN_TEMPLATES } from "../generative/chat-template.js";

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

export type Task = "classify" | "hierarchical" | "sft" | "dpo" | "reward";
/** Tasks on language models (reward: a pairwise reward model on a causal LM's backbone). */
export const GENERATIVE_TASKS: readonly Task[] = ["sft", "dpo", "reward"];
export const isGenerative = (task: Task): task is "sft" | "dpo" | "reward" => GENERATIVE_TASKS.includes(task);
/** Tasks trained on preference pairs. */
export const isPairwise = (task: Task): task is "dpo" | "reward" => task === "dpo" || task === "reward";

/** Metrics that pick the best checkpoint of a generative run. */
export type LmMetric = "loss" | "reward_accuracy" | "reward_margin";

/** Generative tasks (sft, dpo): data format, template, adapter, generation. */
export interface ResolvedLm {
  /** causal: a decoder (Llama, Qwen, GPT-2...); seq2seq: an encoder-decoder (T5, BART), which reads
   * the prompt with its encoder and learns the completion with its decoder. */
  architecture: "causal" | "seq2seq";
  /** As configured; "auto" is decided per file from its rows (the plan records the result). */
  format: "auto" | "chat" | "prompt_completion" | "text" | "preference";
  /** A built-in name ("builtin:chatml"), an absolute .jinja path, template text, or null (the model's own). */
  chat_template: string | null;
  loss_on: "assistant" | "all";
  packing: boolean;
  adapter: { method: "none" | "lora" | "dora"; r: number; alpha: number; dropout: number; target_modules: "all-linear" | string[] };
  generation: { max_new_tokens: number; temperature: number; top_p: number; eval_samples: number; labels: string[] | null };
  dpo: { beta: number };
  /** Precision the weights are held in: bf16 for frozen base weights under an adapter on a bf16 GPU
   * (the adapter itself and any trained full weights stay fp32, with bf16 autocast). */
  base_weights: "fp32" | "bf16";
}

export interface ResolvedConfig {
  version: 1;
  task: Task;
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
  /** Present for generative tasks (sft, dpo). */
  lm?: ResolvedLm;
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
    /** Absent in runs made before generative tasks existed (false). */
    gradient_checkpointing?: boolean;
    /** torchrun processes of a generative run (absent before multi-process training: 1). */
    processes?: number;
    /** Shard the model over the processes (absent before FSDP: false). */
    fsdp?: boolean;
    early_stopping: { metric: SelectMetric | LmMetric; patience: number; min_delta: number };
    freeze: { embeddings: boolean; layers: number; patterns: string[] };
  };
}

export type MachineProbe = EventOf<"probe">;

/** Smaller models tolerate (and need) larger steps; adapters learn at about 10x a full fine-tune's
 * rate, and preference tuning wants small steps (it starts from a good model). */
export function defaultLearningRate(hiddenSize: number, task: Task = "classify", adapter = false): number {
  if (task === "dpo") return adapter ? 5e-5 : 5e-7;
  if (task === "sft") return adapter ? 2e-4 : hiddenSize <= 768 ? 5e-5 : 1e-5;
  if (hiddenSize <= 384) return 1e-4;
  if (hiddenSize <= 768) return 5e-5;
  return 2e-5;
}

function resolveEarlyStoppingMetric(c: UserConfig): SelectMetric | LmMetric {
  const m = c.train.early_stopping.metric;
  const fail = (allowed: string[]): never => {
    throw new HoneError("config", "invalid early-stopping metric", [
      { path: ["train", "early_stopping", "metric"], message: `"${m}" is not a metric of task ${c.task}`, hint: `use one of: auto, ${allowed.join(", ")}` },
    ]);
  };
  if (c.task === "sft") return m === "auto" || m === "loss" ? "loss" : fail(["loss"]);
  if (isPairwise(c.task)) return m === "auto" ? "reward_accuracy" : m === "loss" || m === "reward_accuracy" || m === "reward_margin" ? m : fail(["loss", "reward_accuracy", "reward_margin"]);
  if (m === "reward_accuracy" || m === "reward_margin") return fail(["accuracy", "macro_f1", "micro_f1", "weighted_f1", "loss"]);
  return m === "auto" ? (c.data.multi_label ? "micro_f1" : "accuracy") : m;
}

function resolveLm(c: UserConfig, baseDir: string, device: "cpu" | "cuda", precision: "fp32" | "bf16", info: ModelInfo): ResolvedLm {
  const method = c.adapter.method === "auto" ? "lora" : c.adapter.method;
  const t = c.data.chat_template;
  const architecture = info.seq2seqLm ? "seq2seq" : "causal";
  if (architecture === "seq2seq" && c.task !== "sft") {
    throw new HoneError("config", `task ${c.task} is not built for encoder-decoder models`, [
      { path: ["task"], message: `${info.modelType} is an encoder-decoder (seq2seq) model; Hone fine-tunes those with task: sft`, hint: "use task: sft, or a causal LM (Llama, Qwen, SmolLM...) for dpo" },
    ]);
  }
  return {
    architecture,
    format: c.data.format,
    chat_template: t === null ? null : BUILTIN_TEMPLATES[t] ? `builtin:${t}` : t.includes("{") ? t : resolvePath(baseDir, t),
    loss_on: c.data.loss_on,
    // An encoder-decoder reads each prompt on its own: packing is for causal LMs.
    packing: c.data.packing && c.task === "sft" && architecture === "causal",
    adapter: { ...c.adapter, method },
    generation: c.generation,
    dpo: c.dpo,
    base_weights: method !== "none" && device === "cuda" && precision === "bf16" ? "bf16" : "fp32",
  };
}

function source(src: DataSource | null, baseDir: string, cfg: UserConfig["data"]): ResolvedSource | null {
  if (src === null) return null;
  if (typeof src === "string") return { path: resolvePath(baseDir, src), format: "auto", pointer: null, text: cfg.text, label: cfg.label };
  return { path: resolvePath(baseDir, src.path), format: src.format, pointer: src.pointer ?? null, text: src.text ?? cfg.text, label: src.label ?? cfg.label };
}

export function resolveConfig(loaded: LoadedConfig, machine: MachineProbe, model?: ModelInfo): ResolvedConfig {
  const { config: c, baseDir } = loaded;
  const ref = c.model.path === "auto" ? (isGenerative(c.task) ? DEFAULT_LM : DEFAULT_MODEL) : c.model.path;
  const info = model ?? resolveModel(ref, baseDir);
  const device = c.train.device === "auto" ? (machine.cuda ? "cuda" : "cpu") : c.train.device;
  const precision = c.train.precision === "auto" ? (device === "cuda" && machine.bf16 ? "bf16" : "fp32") : c.train.precision;
  const generative = isGenerative(c.task);
  const generator = info.causalLm || info.seq2seqLm;
  if (generative !== generator) {
    throw new HoneError("model", `model "${ref}" cannot do task ${c.task}`, [
      {
        path: ["model", "path"],
        message: generator ? "it is a language model (text generation), not an encoder for classification" : `it is not a language model that generates text (architectures: ${info.architectures.join(", ") || "none"})`,
        hint: generator ? "use task: sft or dpo with it, or an encoder (BERT, RoBERTa, MiniLM...) for classify" : "sft and dpo need a *ForCausalLM model (Llama, Qwen, GPT-2, SmolLM...) or, for sft, a *ForConditionalGeneration encoder-decoder (T5, BART)",
      },
    ]);
  }
  if (!generative && c.adapter.method !== "auto" && c.adapter.method !== "none") {
    throw new HoneError("config", "adapters are for generative tasks", [{ path: ["adapter", "method"], message: `${c.adapter.method} is not available for task ${c.task}`, hint: "remove the adapter section, or use freeze: for a cheaper classifier" }]);
  }
  if (c.train.fsdp && (!generative || c.task === "reward" || !info.causalLm)) {
    const why = !generative ? `task ${c.task} trains in one process` : c.task === "reward" ? "a reward model is trained replicated" : "an encoder-decoder is trained replicated";
    throw new HoneError("config", "FSDP shards causal language models for sft and dpo", [{ path: ["train", "fsdp"], message: why, hint: "remove train.fsdp: each process then holds the whole model (data parallel)" }]);
  }
  const adapterOn = generative && c.adapter.method !== "none";
  const lr = c.train.lr === "auto" ? defaultLearningRate(info.hiddenSize, c.task, adapterOn) : c.train.lr;
  return {
    version: 1,
    task: c.task,
    name: c.name ?? null,
    model: {
      ref,
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
      max_length: c.data.max_length === "auto" ? (generative ? 1024 : 128) : c.data.max_length,
      tasks: Object.entries(c.data.tasks).map(([name, t]) => ({ name, ...t })),
    },
    ...(generative ? { lm: resolveLm(c, baseDir, device, precision, info) } : {}),
    ...(c.task === "hierarchical" ? { hierarchy: { ...c.hierarchy, taxonomy: c.hierarchy.taxonomy === null ? null : resolvePath(baseDir, c.hierarchy.taxonomy) } } : {}),
    train: {
      ...c.train,
      lr,
      head_lr: c.train.head_lr === "auto" ? lr : c.train.head_lr,
      device,
      precision,
      threads: device === "cpu" ? (c.train.threads === "auto" ? machine.cpu_threads : c.train.threads) : null,
      compile: c.train.compile === "auto" ? device === "cuda" : c.train.compile,
      processes: c.train.processes === "auto" ? (generative && device === "cuda" ? Math.max(1, machine.devices.length) : 1) : c.train.processes,
      early_stopping: { ...c.train.early_stopping, metric: resolveEarlyStoppingMetric(c) },
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
