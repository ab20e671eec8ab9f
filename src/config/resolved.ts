// The complete config of a run, as a schema: resolve.ts produces it, every run stores it
// (config.json and the store), and a stored one is checked against it when a run is opened. The
// types downstream code sees are derived from here. Fields marked "absent in runs made before"
// are optional so that older runs keep working; their task's plug-in fills them in (upgradeConfig).
import { z } from "zod";
import { STRATEGIES } from "../hierarchy/strategies.js";
import { TASK_NAMES } from "../tasks/names.js";
import { PREFERENCE_LOSSES } from "../protocol/schema.js";
import { HoneError } from "../util/errors.js";

/** The version of the resolved config's layout; a run stores the version it was made with. */
export const RESOLVED_VERSION = 1;

// Not strict: a field that an older Hone wrote and today's no longer reads is dropped on reading.
const strict = <T extends z.ZodRawShape>(shape: T) => z.object(shape);
const num = z.number();
const int = z.number().int();

export const ResolvedSource = strict({
  path: z.string(),
  format: z.enum(["auto", "jsonl", "json", "csv", "tsv", "conll", "seq"]),
  pointer: z.string().nullable(),
  text: z.string(),
  label: z.string(),
});
export type ResolvedSource = z.infer<typeof ResolvedSource>;

export const ResolvedTask = strict({ name: z.string(), column: z.string(), multi_label: z.boolean(), loss_weight: num });
export type ResolvedTask = z.infer<typeof ResolvedTask>;

export const ResolvedHierarchy = strict({
  strategy: z.enum(STRATEGIES),
  separator: z.string(),
  levels: z.array(z.string()).nullable(),
  /** Absolute path of the taxonomy file, or null. */
  taxonomy: z.string().nullable(),
  decode: z.enum(["best_path", "top_down"]),
  consistency_loss: num,
  /** Absent in runs made before level weights existed. */
  level_weights: z.array(num).nullable().optional(),
  thresholds: z.array(num).nullable(),
  target_precision: num.nullable(),
});
export type ResolvedHierarchy = z.infer<typeof ResolvedHierarchy>;

/** Generative tasks: data format, template, adapter, generation. */
export const ResolvedLm = strict({
  /** causal: a decoder (Llama, Qwen, GPT-2...); seq2seq: an encoder-decoder (T5, BART), which reads
   * the prompt with its encoder and learns the completion with its decoder. Absent in runs made
   * before encoder-decoders: causal. */
  architecture: z.enum(["causal", "seq2seq"]).optional(),
  /** As configured; "auto" is decided per file from its rows (the plan records the result). */
  format: z.enum(["auto", "chat", "prompt_completion", "text", "preference", "unpaired"]),
  /** A built-in name ("builtin:chatml"), an absolute .jinja path, template text, or null (the model's own). */
  chat_template: z.string().nullable(),
  loss_on: z.enum(["assistant", "all"]),
  packing: z.boolean(),
  adapter: strict({
    method: z.enum(["none", "lora", "dora"]),
    r: int,
    alpha: num,
    dropout: num,
    target_modules: z.union([z.literal("all-linear"), z.array(z.string())]),
  }),
  generation: strict({ max_new_tokens: int, temperature: num, top_p: num, eval_samples: int, labels: z.array(z.string()).nullable() }),
  /** The preference loss with its beta resolved (runs made before the other losses: dpo). */
  dpo: strict({
    loss: z.enum(PREFERENCE_LOSSES).default("dpo"),
    beta: num,
    gamma_beta_ratio: num.default(0.5),
    desirable_weight: num.default(1),
    undesirable_weight: num.default(1),
  }),
  /** task grpo: its settings, the reward module's path absolute. */
  grpo: strict({
    reward: z.string(),
    group_size: int,
    max_new_tokens: int,
    temperature: num,
    top_p: num,
    beta: num,
    epsilon: num,
    scale_rewards: z.boolean(),
  }).optional(),
  /** The model's output: next-token logits (lm) or one reward per sequence (reward). Absent in runs
   * made before task plug-ins: their task's plug-in fills it in. */
  head: z.enum(["lm", "reward"]),
  /** Precision the weights are held in: bf16 for frozen base weights under an adapter on a bf16 GPU
   * (the adapter itself and any trained full weights stay fp32, with bf16 autocast). */
  base_weights: z.enum(["fp32", "bf16", "nf4"]),
});
export type ResolvedLm = z.infer<typeof ResolvedLm>;

/** Token tasks: the scheme as configured ("auto" is decided from the data; the plan records it). */
export const ResolvedToken = strict({
  scheme: z.enum(["auto", "io", "bio", "bioes"]),
  decode: z.enum(["constrained", "argmax"]),
  fields: strict({ tokens: z.string(), tags: z.string(), spans: z.string() }),
  intent_weight: num,
});
export type ResolvedToken = z.infer<typeof ResolvedToken>;

/** Extractive question answering: windows and answer decoding. */
export const ResolvedQa = strict({ stride: int, max_answer_tokens: int, n_best: int, max_question_tokens: int });
export type ResolvedQa = z.infer<typeof ResolvedQa>;

/** Classifiers with little data: the method as configured ("auto" is decided from the data; the
 * plan records the result), the contrastive stage, the head's start, the labels' descriptions. */
export const ResolvedFewShot = strict({
  method: z.enum(["auto", "finetune", "fewshot", "zeroshot"]),
  auto_below: int,
  pairs_per_example: int,
  epochs: int,
  batch_size: int,
  lr: num,
  head_init: z.enum(["auto", "random", "prototypes", "labels"]),
  scale: num,
  /** Read from the file when one was named. */
  descriptions: z.record(z.string(), z.string()).nullable(),
});
export type ResolvedFewShot = z.infer<typeof ResolvedFewShot>;

/** Augmentation (classifier tasks): as configured; the writer is checked when the data is. */
export const ResolvedAugment = strict({
  enabled: z.boolean(),
  model: z.string(),
  paraphrases: int,
  per_label: int,
  examples_in_prompt: int,
  prompts: strict({ paraphrase: z.string(), new: z.string() }),
  temperature: num,
  top_p: num,
  max_new_tokens: int,
  batch_size: int,
  chunk: int,
  seed: int,
  near_duplicate: num,
  reject_confidence: num,
  /** Absent in runs made before it: 0 (off). */
  min_confidence: num.default(0),
  keep: z.enum(["if_better", "always"]),
});
export type ResolvedAugment = z.infer<typeof ResolvedAugment>;

export const ResolvedConfig = strict({
  version: z.literal(RESOLVED_VERSION),
  task: z.enum(TASK_NAMES),
  name: z.string().nullable(),
  model: strict({
    /** As the user wrote it (catalog name or path). */
    ref: z.string(),
    dir: z.string(),
    model_type: z.string(),
    hidden_size: int,
    num_layers: int,
    pooling: z.enum(["cls", "mean"]),
    dropout: num,
    encoder_dropout: num.nullable(),
    pad_token_id: int,
    init_from: z.string().nullable(),
  }),
  data: strict({
    /** null: a zero-shot classifier without training data (its classes: fewshot.descriptions). */
    train: ResolvedSource.nullable(),
    validation: ResolvedSource.nullable(),
    test: ResolvedSource.nullable(),
    multi_label: z.boolean(),
    /** Absent in runs made before label variants were merged (false). */
    merge_label_variants: z.boolean().optional(),
    label_separator: z.string(),
    split: strict({ validation: num, test: num, seed: int, stratify: z.boolean() }),
    max_length: int,
    /** Extra heads (multi-task); absent in runs made before multi-task existed. */
    tasks: z.array(ResolvedTask).optional(),
    /** Generated examples (a file Hone wrote: {text, labels} lines) added to train after the split. */
    generated: z.string().nullable().optional(),
  }),
  /** Present for task: hierarchical. */
  hierarchy: ResolvedHierarchy.optional(),
  /** Present for generative tasks. */
  lm: ResolvedLm.optional(),
  /** Present for token tasks. */
  token: ResolvedToken.optional(),
  /** Present for extractive question answering. */
  qa: ResolvedQa.optional(),
  /** Present for classifier tasks (absent in runs made before few-shot: finetune). */
  fewshot: ResolvedFewShot.optional(),
  /** Present for classifier tasks (absent in runs made before augmentation: off). */
  augment: ResolvedAugment.optional(),
  train: strict({
    epochs: num,
    max_steps: int.nullable(),
    lr: num,
    head_lr: num,
    batch_size: int,
    grad_accum: int,
    warmup_ratio: num,
    scheduler: z.enum(["linear", "cosine", "constant"]),
    weight_decay: num,
    betas: z.tuple([num, num]),
    eps: num,
    label_smoothing: num,
    /** Absent in runs made before it existed (none). */
    class_weight: z.enum(["none", "balanced"]).optional(),
    max_grad_norm: num.nullable(),
    seed: int,
    device: z.enum(["cpu", "cuda"]),
    precision: z.enum(["fp32", "bf16"]),
    threads: int.nullable(),
    eval_every: z.union([int, z.literal("epoch")]),
    eval_batch_size: int,
    /** Absent in runs made before compilation existed (off). */
    compile: z.boolean().optional(),
    group_by_length: z.boolean(),
    /** Absent in runs made before generative tasks existed (false). */
    gradient_checkpointing: z.union([z.boolean(), int]).optional(),
    /** AdamW's state in host memory (absent before offload existed: false). */
    optimizer_offload: z.boolean().optional(),
    /** Share of compiled layers' activations kept (absent before it existed: 1). */
    activation_budget: num.optional(),
    /** torchrun processes of a generative run (absent before multi-process training: 1). */
    processes: int.optional(),
    /** Shard the model over the processes (absent before FSDP: false). */
    fsdp: z.boolean().optional(),
    /** Machines of a generative run (absent before multi-node training: one). */
    nodes: strict({ count: int, rank: int, endpoint: z.string().nullable(), id: z.string() }).optional(),
    /** The metric is one of the task's selection metrics (its plug-in's config.selection). */
    early_stopping: strict({ metric: z.string(), patience: int, min_delta: num }),
    freeze: strict({ embeddings: z.boolean(), layers: int, patterns: z.array(z.string()) }),
  }),
});
export type ResolvedConfig = z.infer<typeof ResolvedConfig>;

/** A run's stored config, checked: every field today's code reads is there, with the right type. */
export function storedConfig(runId: string, stored: unknown): ResolvedConfig {
  const r = ResolvedConfig.safeParse(stored);
  if (r.success) return r.data;
  throw new HoneError(
    "store",
    `run ${runId} has a config this Hone cannot read`,
    r.error.issues.slice(0, 10).map((i) => ({
      path: ["config", ...i.path.map((p) => (typeof p === "symbol" ? String(p) : p))],
      message: i.message,
      hint: "a run made by another version of Hone, or an edited config.json",
    })),
  );
}
