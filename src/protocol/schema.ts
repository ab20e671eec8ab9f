// The one source of truth for the TypeScript <-> Python engine boundary.
//
// Transport: JSON lines over stdio. The orchestrator writes one `Job` line on the
// engine's stdin, then `Control` lines when the engine waits for a decision
// (after each evaluation). The engine writes `Event` lines on stdout.
// The JSON Schema exported from these types (engine/hone_engine/protocol.schema.json)
// is checked by the engine on every job it receives and by its tests on every event.
//
// Rules: every setting is resolved before it crosses (the engine invents no default);
// numbers are finite or null (NaN/Infinity cross as null); token data crosses as
// binary shards, never as JSON arrays.
import { z } from "zod";

export const PROTOCOL_VERSION = 1;

// ---- constants both sides use; the engine reads them from the exported schema's `constants` ----

/** A step's folder under checkpoints/ and evals/: step-000120. */
export const STEP_PREFIX = "step-";
export const STEP_DIGITS = 6;
/** A folder being written starts with this, and is renamed when complete. */
export const TEMP_PREFIX = ".tmp-";
/** Binary files (NumPy dtype strings; TypeScript writes them with the matching typed arrays): token
 * ids and offsets, single-label targets, multi-label targets and loss masks, logits and statistics. */
export const DTYPES = { ids: "<u4", single_label: "<i4", flags: "|u1", logits: "<f4" } as const;
/** What the engine writes per column of its outputs: `<column>.logits.f32`, `count` rows of floats. */
export const LOGITS_SUFFIX = ".logits.f32";
/** Per-sequence statistics of a language model's evaluation, by objective; and of `lm.score`, by head. */
export const EVAL_COLUMNS = { sft: ["nll", "tokens"], dpo: ["policy_logp", "reference_logp", "tokens"], reward: ["reward"] } as const;

/** The preference task's losses (lm_train.py, src/generative/preference.ts). */
export const PREFERENCE_LOSSES = ["dpo", "orpo", "simpo", "kto"] as const;
/** Each loss's beta when the config leaves it out: DPO and KTO as in their papers and TRL, SimPO's
 * reward scale from its paper (2.0; TRL's CPO default of 0.1 is DPO's), ORPO's lambda. */
export const DEFAULT_PREFERENCE_BETA = { dpo: 0.1, orpo: 0.1, simpo: 2.0, kto: 0.1 } as const;
export const SCORE_COLUMNS = { lm: ["logp", "tokens"], reward: ["reward"] } as const;
/** Tokens whose logits the engine computes at once (engine lm/logp.py; the memory estimate). */
export const LOGIT_CHUNK = 4096;
export const CONSTANTS = {
  logit_chunk: LOGIT_CHUNK,
  step_prefix: STEP_PREFIX,
  step_digits: STEP_DIGITS,
  temp_prefix: TEMP_PREFIX,
  dtypes: DTYPES,
  logits_suffix: LOGITS_SUFFIX,
  eval_columns: EVAL_COLUMNS,
  score_columns: SCORE_COLUMNS,
} as const;

const path = z.string().min(1);
const int = z.number().int();
const nonNegInt = int.nonnegative();
const posInt = int.positive();
/** Activation checkpointing of a generative run: every decoder layer (true), none, or the first N. */
const Checkpointing = z.union([z.boolean(), posInt]);
/** torch.compile's activation memory budget (1 = its default partitioning); train.activation_budget's range. */
export const ActivationBudget = z.number().gt(0).max(1);
/** A float that may be null because it was NaN or infinite on the engine side. */
const finiteOrNull = z.number().nullable();

/** Peaks of one engine process so far (rank 0's under torchrun; the others hold the same model
 * and batch). On a GPU: the caching allocator's peak of tensors allocated, and of memory reserved
 * from the driver (what nvidia-smi shows, less the CUDA context); null on the CPU. rss: the
 * process's peak resident set, on either. */
export const PeakMemory = z
  .object({
    device: z.enum(["cpu", "cuda"]),
    allocated_bytes: z.number().nonnegative().nullable(),
    reserved_bytes: z.number().nonnegative().nullable(),
    rss_bytes: z.number().nonnegative(),
  })
  .strict();
export type PeakMemory = z.infer<typeof PeakMemory>;

/** A split tokenized by TypeScript: ids of all examples concatenated, plus offsets. */
export const TokenShard = z
  .object({
    /** uint32 little-endian token ids, all examples back to back. */
    tokens: path,
    /** uint32 little-endian, count + 1 entries: example i is tokens[offsets[i]:offsets[i+1]]. */
    offsets: path,
    count: nonNegInt,
    /** Per head: int32 class index (single-label), uint8 count x num_labels (multi-label), or for a
     * token-level head an int32 class index per token (as many as `tokens`; -1 = no target). */
    labels: z.record(z.string(), path),
  })
  .strict();
export type TokenShard = z.infer<typeof TokenShard>;

export const HeadSpec = z
  .object({
    name: z.string().min(1),
    num_labels: posInt,
    multi_label: z.boolean(),
    /** sequence: one decision per example (pooled); token: one per token (entity tags); span: a
     * start and an end logit per token (num_labels 2), its target one [start, end] token pair per
     * example (int32 count x 2; answers). Token and span heads' logits are written as one row per
     * token of the shard, in the shard's order. */
    level: z.enum(["sequence", "token", "span"]),
    label_smoothing: z.number().min(0).max(1),
    loss_weight: z.number().positive(),
    /** A single-label sequence head's loss weight per class (train.class_weight); absent or null: 1. */
    class_weights: z.array(z.number().positive()).nullable().optional(),
    /** A multi-label sequence head's loss weights per label, of its positive and of its negative
     * targets (train.class_weight); absent or null: 1. */
    label_weights: z
      .object({ positive: z.array(z.number().positive()), negative: z.array(z.number().positive()) })
      .strict()
      .nullable()
      .optional(),
  })
  .strict();
export type HeadSpec = z.infer<typeof HeadSpec>;

/** Hierarchy-aware loss: the parent head's probabilities, summed into groups, should equal the
 * child head's probabilities summed into the same groups (squared difference, times weight). */
export const Coupling = z
  .object({
    parent: z.string().min(1),
    child: z.string().min(1),
    /** Group index of each parent-head class. */
    parent_groups: z.array(nonNegInt),
    /** Group index of each child-head class. */
    child_groups: z.array(nonNegInt),
    weight: z.number().positive(),
  })
  .strict();
export type Coupling = z.infer<typeof Coupling>;

export const ModelSpec = z
  .object({
    /** Local Hugging Face model directory (config.json + safetensors weights). */
    path,
    pooling: z.enum(["cls", "mean"]),
    /** Dropout before each head. */
    dropout: z.number().min(0).max(1),
    /** Overrides of the encoder's hidden/attention dropout, or null to keep the model's. */
    encoder_dropout: z.number().min(0).max(1).nullable(),
    /** A Hone checkpoint (model.safetensors) whose matching weights start the model. */
    init_from: path.nullable(),
    /** Whether the heads are also taken from init_from (same labels) or start fresh. */
    init_heads: z.boolean(),
    pad_token_id: nonNegInt,
  })
  .strict();

export const RuntimeSpec = z
  .object({
    device: z.enum(["cpu", "cuda"]),
    precision: z.enum(["fp32", "bf16"]),
    /** torch intra-op threads; null leaves torch's choice (GPU runs). */
    threads: posInt.nullable(),
    /** torch.compile the model's repeated layers for training. */
    compile: z.boolean(),
  })
  .strict();
export type RuntimeSpec = z.infer<typeof RuntimeSpec>;

/** The optimizer and schedule of every training job. */
const optimFields = {
  seed: int,
  lr: z.number().positive(),
  weight_decay: z.number().min(0),
  betas: z.tuple([z.number(), z.number()]),
  eps: z.number().positive(),
  max_grad_norm: z.number().positive().nullable(),
  scheduler: z.enum(["linear", "cosine", "constant"]),
  warmup_steps: nonNegInt,
  batch_size: posInt,
  grad_accum: posInt,
  /** Optimizer steps in one pass over the train shard (ceil(micro batches / grad_accum)); 0 for an
   * empty shard (a zero-shot classifier without training data, which takes no step). */
  steps_per_epoch: nonNegInt,
  total_steps: nonNegInt,
  eval_batch_size: posInt,
};

const FreezeSpec = z
  .object({
    embeddings: z.boolean(),
    /** The first N encoder layers are frozen. */
    layers: nonNegInt,
    /** Regular expressions over parameter names. */
    patterns: z.array(z.string()),
  })
  .strict();

/** Few-shot classifiers: a contrastive stage before the heads learn (SetFit's recipe). Its steps are
 * the job's first `steps` optimizer steps; the heads' steps (optim) follow, numbered on from there. */
export const ContrastiveStage = z
  .object({
    /** int32 count x 2: indices of two train-shard examples per pair, in training order. */
    pairs: path,
    /** float32 count: the cosine similarity the pair's embeddings should have (1 similar, 0 not). */
    similar: path,
    count: posInt,
    /** Pairs per optimizer step. */
    batch_size: posInt,
    steps: posInt,
    lr: z.number().positive(),
    warmup_steps: nonNegInt,
  })
  .strict();
export type ContrastiveStage = z.infer<typeof ContrastiveStage>;

/** Sequence heads that start from embeddings instead of random weights: each label's row is
 * `scale` x its unit-length embedding, divided by the train examples' mean embedding length (so
 * that logits are about scale x cosine similarity). prototypes: the mean unit embedding of the
 * label's train examples (after the contrastive stage); labels: the embedding of each label's
 * text (texts[head], one example per label, in label order). */
export const HeadInit = z
  .object({
    from: z.enum(["prototypes", "labels"]),
    texts: z.record(z.string(), TokenShard).nullable(),
    scale: z.number().positive(),
  })
  .strict();
export type HeadInit = z.infer<typeof HeadInit>;

export const ClassifyTrainJob = z
  .object({
    kind: z.literal("classify.train"),
    protocol_version: z.literal(PROTOCOL_VERSION),
    run_dir: path,
    model: ModelSpec,
    /** Single-label targets of -1 mean "no target for this head" (e.g. a node off the path). */
    heads: z.array(HeadSpec).min(1),
    couplings: z.array(Coupling),
    data: z.object({ train: TokenShard, validation: TokenShard.nullable() }).strict(),
    optim: z.object({ ...optimFields, head_lr: z.number().positive(), group_by_length: z.boolean() }).strict(),
    freeze: FreezeSpec,
    /** Evaluate (and then checkpoint) every N optimizer steps, and at the end. */
    eval_every: posInt,
    runtime: RuntimeSpec,
    /** A checkpoint directory to continue from, or null for a fresh start. */
    resume_from: path.nullable(),
    /** Evaluate the resumed checkpoint before training on (its evaluation was interrupted). */
    eval_first: z.boolean(),
    contrastive: ContrastiveStage.nullable(),
    /** Applied when the heads' steps begin (after the contrastive stage, if any). */
    head_init: HeadInit.nullable(),
  })
  .strict();
export type ClassifyTrainJob = z.infer<typeof ClassifyTrainJob>;

/** A trained model, in every job that uses one (predict, export, bench). */
const trainedModel = {
  model: ModelSpec,
  heads: z.array(HeadSpec).min(1),
  /** The model.safetensors of a Hone checkpoint. */
  weights: path,
};

export const ClassifyPredictJob = z
  .object({
    kind: z.literal("classify.predict"),
    protocol_version: z.literal(PROTOCOL_VERSION),
    ...trainedModel,
    data: TokenShard,
    /** Directory where `<head>.logits.f32` files are written. */
    output_dir: path,
    batch_size: posInt,
    runtime: RuntimeSpec,
  })
  .strict();
export type ClassifyPredictJob = z.infer<typeof ClassifyPredictJob>;

export const OnnxExportJob = z
  .object({
    kind: z.literal("onnx.export"),
    protocol_version: z.literal(PROTOCOL_VERSION),
    ...trainedModel,
    /** Where model.onnx goes (written to a temporary sibling, then renamed). */
    output: path,
    quantize: z.enum(["none", "int8", "fp16"]),
    opset: posInt,
    /** Examples whose logits are compared between PyTorch and the exported graph. */
    sample: TokenShard,
    sample_size: posInt,
    threads: posInt,
  })
  .strict();
export type OnnxExportJob = z.infer<typeof OnnxExportJob>;

export const ClassifyBenchJob = z
  .object({
    kind: z.literal("classify.bench"),
    protocol_version: z.literal(PROTOCOL_VERSION),
    ...trainedModel,
    data: TokenShard,
    /** Batch-1 calls timed (the first examples of the shard). */
    latency_samples: posInt,
    batch_size: posInt,
    threads: posInt,
  })
  .strict();
export type ClassifyBenchJob = z.infer<typeof ClassifyBenchJob>;

// ---- generative models (causal LM): SFT, DPO, generation, merging ----

/** Token sequences of a generative split, tokenized by TypeScript with their loss masks. */
export const LmShard = z
  .object({
    /** uint32 little-endian token ids, all sequences back to back. */
    tokens: path,
    /** uint32, count + 1 entries. */
    offsets: path,
    count: nonNegInt,
    /** uint8 per token: 1 where the token is learnt. Null for prompts (generation). */
    loss_mask: path.nullable(),
    /** Packing: row r holds sequences items[offsets[r]:offsets[r+1]] back to back (uint32 files).
     * Null: one sequence per row (or, for DPO, one pair: sequences 2i and 2i+1). */
    rows: z.object({ offsets: path, items: path, count: nonNegInt }).strict().nullable(),
    /** KTO: uint8 per pair, 1 where its first sequence is a desirable answer, 0 undesirable (the
     * second is the same prompt with another example's answer: the KL reference point). */
    labels: path.nullable().optional(),
  })
  .strict();
export type LmShard = z.infer<typeof LmShard>;

export const LmModelSpec = z
  .object({
    /** A local Hugging Face causal LM or encoder-decoder directory (config.json + safetensors). */
    path,
    /** causal: *ForCausalLM; seq2seq: *ForConditionalGeneration (T5, BART), whose shards hold each
     * example as source tokens (mask 0) followed by target tokens (mask 1). */
    architecture: z.enum(["causal", "seq2seq"]),
    /** lm: the language-model head; reward: one number per sequence from its last token's hidden
     * state (AutoModelForSequenceClassification with one label, the head new at the first run). */
    head: z.enum(["lm", "reward"]),
    /** A peft adapter directory (adapter_config.json + adapter_model.safetensors) on top, or null. */
    adapter: path.nullable(),
    /** Precision the base weights are loaded in; nf4: QLoRA's frozen 4-bit NormalFloat base
     * (bitsandbytes, double-quantized), computing in bf16 on a GPU and fp32 on the CPU. */
    dtype: z.enum(["fp32", "bf16", "nf4"]),
    pad_token_id: nonNegInt,
  })
  .strict();
export type LmModelSpec = z.infer<typeof LmModelSpec>;

export const AdapterSpec = z
  .object({
    method: z.enum(["none", "lora", "dora"]),
    r: posInt,
    alpha: z.number().positive(),
    dropout: z.number().min(0).max(1),
    target_modules: z.union([z.literal("all-linear"), z.array(z.string().min(1)).min(1)]),
  })
  .strict();

export const LmTrainJob = z
  .object({
    kind: z.literal("lm.train"),
    protocol_version: z.literal(PROTOCOL_VERSION),
    run_dir: path,
    /** sft: next-token loss on masked tokens; dpo: preference loss on pairs (sequences 2i, 2i+1 =
     * chosen, rejected) against the starting model (the adapter switched off, or a frozen copy);
     * reward: a pairwise (Bradley-Terry) reward model on the same pairs, -log sigmoid(r_c - r_r). */
    objective: z.enum(["sft", "dpo", "reward"]),
    model: LmModelSpec,
    adapter: AdapterSpec,
    data: z.object({ train: LmShard, validation: LmShard.nullable() }).strict(),
    /** batch_size counts rows (sft: packed rows or sequences) or pairs (dpo). */
    optim: z.object(optimFields).strict(),
    freeze: FreezeSpec,
    /** The preference loss (objective dpo). dpo: -log sigmoid(beta ((pi_c - ref_c) - (pi_r - ref_r)));
     * orpo: -mean log p(chosen) - beta log sigmoid(log odds_c - log odds_r), odds of the per-token
     * mean probability; simpo: -log sigmoid(beta (pi_c/|c| - pi_r/|r|) - gamma_beta_ratio beta);
     * kto: desirable 1 - sigmoid(beta (pi - ref - z)), undesirable 1 - sigmoid(beta (z - pi + ref)),
     * weighted, z = max(0, mean (pi - ref) over the micro-batch's mismatched sequences), no gradient. */
    dpo: z
      .object({
        loss: z.enum(PREFERENCE_LOSSES),
        beta: z.number().positive(),
        gamma_beta_ratio: z.number().min(0),
        desirable_weight: z.number().positive(),
        undesirable_weight: z.number().positive(),
      })
      .strict(),
    eval_every: posInt,
    /** processes: how many torchrun processes share the job on each node (one per GPU); 1 = no
     * torchrun. nodes: how many machines (the job's world is processes x nodes). fsdp: shard the
     * model over all of them (FSDP2) instead of replicating it. */
    runtime: RuntimeSpec.extend({
      gradient_checkpointing: Checkpointing,
      processes: posInt,
      nodes: posInt,
      fsdp: z.boolean(),
      /** AdamW's moments and update in host memory (engine offload.py). */
      optimizer_offload: z.boolean(),
      /** Share of a compiled layer's activations the compiler may keep (1: all it would). */
      activation_budget: ActivationBudget,
    }).strict(),
    resume_from: path.nullable(),
    eval_first: z.boolean(),
  })
  .strict();
export type LmTrainJob = z.infer<typeof LmTrainJob>;

/** Online reinforcement learning from prompts (GRPO): each step samples `group_size` answers to
 * each prompt, asks the orchestrator for their rewards (a `completions` event answered by a
 * `rewards` control line: user code never runs in the engine), normalises them within each
 * group and takes a clipped policy-gradient step, with an optional KL penalty to the starting
 * model. Evaluation: greedy answers to the validation prompts, rewarded the same way. */
export const LmGrpoJob = z
  .object({
    kind: z.literal("lm.grpo"),
    protocol_version: z.literal(PROTOCOL_VERSION),
    run_dir: path,
    model: LmModelSpec,
    adapter: AdapterSpec,
    /** Prompts only (loss_mask null): one sequence per row. */
    data: z.object({ train: LmShard, validation: LmShard.nullable() }).strict(),
    /** batch_size counts prompts (each sampled group_size times). */
    optim: z.object(optimFields).strict(),
    freeze: FreezeSpec,
    grpo: z
      .object({
        group_size: z.number().int().min(2),
        max_new_tokens: posInt,
        temperature: z.number().gt(0),
        top_p: z.number().gt(0).max(1),
        /** KL coefficient to the starting model (0: no reference pass). */
        beta: z.number().min(0),
        /** Clipping of the probability ratio to [1 - epsilon, 1 + epsilon]. */
        epsilon: z.number().positive(),
        /** Rewards divided by their group's standard deviation (true), or only centred (false). */
        scale_rewards: z.boolean(),
      })
      .strict(),
    stop_token_ids: z.array(nonNegInt).min(1),
    eval_every: posInt,
    runtime: RuntimeSpec.extend({ gradient_checkpointing: Checkpointing, optimizer_offload: z.boolean() }).strict(),
    resume_from: path.nullable(),
    eval_first: z.boolean(),
  })
  .strict();
export type LmGrpoJob = z.infer<typeof LmGrpoJob>;

export const LmGenerateJob = z
  .object({
    kind: z.literal("lm.generate"),
    protocol_version: z.literal(PROTOCOL_VERSION),
    model: LmModelSpec,
    /** Prompts (rows: null, loss_mask: null). */
    prompts: LmShard,
    /** Where `generations.tokens.u32` and `generations.offsets.u32` are written. */
    output_dir: path,
    max_new_tokens: posInt,
    /** 0 = greedy. */
    temperature: z.number().min(0),
    top_p: z.number().gt(0).max(1),
    seed: int,
    /** Generation stops at any of these. */
    stop_token_ids: z.array(nonNegInt).min(1),
    batch_size: posInt,
    /** Several chunks in one process (augmentation): the prompts are cut into chunks of `size`,
     * numbered from `first`; chunk i is generated with seed + i and emitted as its own
     * `generations` event (files `generations-<i>.*`) as soon as it ends, so that each can be saved
     * whole and a resume starts at the first missing one with the same result. The model loads
     * once (a process per chunk spent most of a GPU's time starting). null: one batch of output. */
    chunks: z.object({ size: posInt, first: nonNegInt }).strict().nullable(),
    runtime: RuntimeSpec,
  })
  .strict();
export type LmGenerateJob = z.infer<typeof LmGenerateJob>;

export const LmScoreJob = z
  .object({
    kind: z.literal("lm.score"),
    protocol_version: z.literal(PROTOCOL_VERSION),
    model: LmModelSpec,
    /** Sequences with loss masks; pairs: sequences 2i, 2i+1 belong together (only for batching). */
    data: LmShard,
    pairs: z.boolean(),
    /** Where `logp.logits.f32` (summed log-probability of the learnt tokens) and `tokens.logits.f32`
     * go; for a reward head, `reward.logits.f32` (one number per sequence). */
    output_dir: path,
    batch_size: posInt,
    runtime: RuntimeSpec,
  })
  .strict();
export type LmScoreJob = z.infer<typeof LmScoreJob>;

export const LmMergeJob = z
  .object({
    kind: z.literal("lm.merge"),
    protocol_version: z.literal(PROTOCOL_VERSION),
    /** The base model and the adapter to fold into it. */
    model: LmModelSpec,
    /** A new model directory (written to a temporary sibling, then renamed). */
    output: path,
    dtype: z.enum(["fp32", "bf16"]),
  })
  .strict();
export type LmMergeJob = z.infer<typeof LmMergeJob>;

/** A long-lived generation server (`hone serve` of a generative run): after `ready`, each
 * `generate` control line is answered with `tokens` events as they are produced, then `generated`.
 * Prompts cross as JSON ids: they are one request's few hundred tokens, not a dataset. */
export const LmServeJob = z
  .object({
    kind: z.literal("lm.serve"),
    protocol_version: z.literal(PROTOCOL_VERSION),
    model: LmModelSpec,
    runtime: RuntimeSpec,
  })
  .strict();

/** A generative run's model as one GGUF file (adapter merged), read back and compared. */
export const LmGgufJob = z
  .object({
    kind: z.literal("lm.gguf"),
    protocol_version: z.literal(PROTOCOL_VERSION),
    model: LmModelSpec,
    /** The folder whose tokenizer.json / tokenizer_config.json describe the vocabulary. */
    tokenizer_dir: path,
    /** The chat template written into the metadata (tokenizer.chat_template), or null. */
    chat_template: z.string().nullable(),
    /** Weights: f16, q8_0, q4_0, or q4_k_m (llama.cpp's mix of Q4_K and Q6_K, with its fallbacks
     * for rows that are not a multiple of 256); norms stay f32. */
    type: z.enum(["f16", "q8_0", "q4_0", "q4_k_m"]),
    /** The GGUF file (written to a temporary sibling, then renamed once it reads back). */
    output: path,
    /** Token ids of the prompts whose next-token distributions are compared. */
    prompts: z.array(z.array(nonNegInt).min(1)).min(1),
    /** 4-bit types: sequences read in order up to max_tokens, whose activations guide the rounding.
     * gptq: the 4- to 6-bit blocks (q4_0, q5_0, Q4_K, Q6_K) rounded by GPTQ on each layer's
     * x^T x (q8_0 as without); imatrix: llama.cpp's importance matrix (each linear layer's mean squared input per
     * column) weights every quantizer's error; null: round to nearest. */
    calibration: z
      .object({ shard: LmShard, max_tokens: posInt, method: z.enum(["gptq", "imatrix"]) })
      .strict()
      .nullable(),
    threads: posInt,
  })
  .strict();
export type LmGgufJob = z.infer<typeof LmGgufJob>;

export const ModelFromGgufJob = z
  .object({
    kind: z.literal("model.from_gguf"),
    protocol_version: z.literal(PROTOCOL_VERSION),
    gguf: path,
    /** The model directory to write (a temporary sibling, then renamed). */
    output: path,
  })
  .strict();

export const ProbeJob = z.object({ kind: z.literal("probe"), protocol_version: z.literal(PROTOCOL_VERSION) }).strict();

export const Job = z.discriminatedUnion("kind", [
  ClassifyTrainJob,
  ClassifyPredictJob,
  OnnxExportJob,
  ClassifyBenchJob,
  LmTrainJob,
  LmGrpoJob,
  LmGenerateJob,
  LmScoreJob,
  LmMergeJob,
  LmServeJob,
  LmGgufJob,
  ModelFromGgufJob,
  ProbeJob,
]);
export type Job = z.infer<typeof Job>;

// ---- events (engine -> orchestrator) ----

export const ErrorCode = z.enum([
  "bad_job", // the job failed schema validation: a bug on the TypeScript side
  "model_load", // the model directory could not be loaded
  "data", // a shard is unreadable or inconsistent
  "checkpoint", // a checkpoint could not be read or written
  "out_of_memory",
  "disk_full", // a write failed for lack of space: finished checkpoints are intact
  "internal",
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const Event = z.discriminatedUnion("type", [
  z
    .object({
      type: z.literal("probe"),
      torch: z.string(),
      transformers: z.string(),
      cuda: z.boolean(),
      bf16: z.boolean(),
      devices: z.array(z.string()),
      cpu_threads: posInt,
    })
    .strict(),
  z
    .object({
      type: z.literal("started"),
      parameters: nonNegInt,
      trainable_parameters: nonNegInt,
      start_step: nonNegInt,
      total_steps: nonNegInt,
    })
    .strict(),
  z
    .object({
      type: z.literal("progress"),
      step: nonNegInt,
      total_steps: posInt,
      /** A staged job's stage before the main one (a few-shot run's "contrastive" stage); epoch counts within it. */
      stage: z.string().optional(),
      epoch: z.number(),
      loss: finiteOrNull,
      lr: z.number(),
      grad_norm: finiteOrNull,
      samples_per_s: z.number(),
      tokens_per_s: z.number(),
      elapsed_s: z.number(),
      memory: PeakMemory,
    })
    .strict(),
  z
    .object({
      type: z.literal("eval"),
      step: nonNegInt,
      epoch: z.number(),
      loss: finiteOrNull,
      /** Per head: path of a float32 count x num_labels logits file. Generative jobs: per-sequence
       * float32 statistics instead (sft: `nll` = summed loss, `tokens` = learnt tokens; dpo:
       * `policy_logp`, `reference_logp` = summed log-probabilities of the answer). */
      logits: z.record(z.string(), path),
      count: nonNegInt,
    })
    .strict(),
  z
    .object({
      type: z.literal("generations"),
      /** uint32 token ids of the new tokens (stop token excluded) and count + 1 offsets. */
      tokens: path,
      offsets: path,
      count: nonNegInt,
      /** Why each generation ended: stop token (true) or max_new_tokens (false), uint8 file. */
      stopped: path,
      new_tokens_per_s: z.number(),
      /** The chunk these are (a job with chunks), else null. */
      chunk: nonNegInt.nullable(),
    })
    .strict(),
  /** lm.grpo: answers sampled for prompts, waiting for their rewards (a `rewards` control line
   * with one number per answer, in order). uint32 files: the answers' token ids (the stop token
   * included where it came) with count + 1 offsets, and each answer's prompt (a row of the split). */
  z
    .object({
      type: z.literal("completions"),
      step: nonNegInt,
      split: z.enum(["train", "validation"]),
      tokens: path,
      offsets: path,
      prompts: path,
      count: nonNegInt,
      group_size: posInt,
    })
    .strict(),
  z.object({ type: z.literal("ready") }).strict(),
  /** lm.serve: new tokens of request `id` (the stop token is never sent). */
  z.object({ type: z.literal("tokens"), id: z.string(), token_ids: z.array(nonNegInt) }).strict(),
  z
    .object({
      type: z.literal("generated"),
      id: z.string(),
      finish_reason: z.enum(["stop", "length", "cancelled"]),
      prompt_tokens: nonNegInt,
      completion_tokens: nonNegInt,
    })
    .strict(),
  /** A new model directory (merge, GGUF conversion). */
  z.object({ type: z.literal("model_written"), path, bytes: nonNegInt }).strict(),
  /** The GGUF file, and how its next-token log-probabilities differ from the PyTorch model's on
   * the job's prompts: largest difference, share of prompts with the same most likely token, and
   * KL(PyTorch || GGUF) averaged over the prompts. */
  z
    .object({
      type: z.literal("gguf_written"),
      path,
      bytes: nonNegInt,
      max_abs_logprob_diff: z.number(),
      top1_agreement: z.number(),
      kl: z.number(),
      /** Calibration tokens read (0: none, rounded to nearest). */
      calibration_tokens: nonNegInt,
    })
    .strict(),
  z.object({ type: z.literal("checkpoint"), step: nonNegInt, path }).strict(),
  z
    .object({
      type: z.literal("predictions"),
      logits: z.record(z.string(), path),
      count: nonNegInt,
      samples_per_s: z.number(),
    })
    .strict(),
  z
    .object({
      type: z.literal("timing"),
      /** Each batch-1 call, in milliseconds. */
      latency_ms: z.array(z.number()),
      samples_per_s: z.number(),
      count: nonNegInt,
    })
    .strict(),
  z
    .object({
      type: z.literal("exported"),
      path,
      bytes: nonNegInt,
      /** Per head: largest |PyTorch - ONNX| logit difference and top-1 agreement on the sample. */
      heads: z.record(z.string(), z.object({ max_abs_diff: finiteOrNull, top1_agreement: z.number() }).strict()),
      sample_size: posInt,
      onnxruntime: z.string(),
      opset: posInt,
      runtime_s: z.number(),
    })
    .strict(),
  z
    .object({
      type: z.literal("done"),
      step: nonNegInt,
      reason: z.enum(["completed", "stopped", "interrupted"]),
      runtime_s: z.number(),
    })
    .strict(),
  z.object({ type: z.literal("log"), level: z.enum(["debug", "info", "warning"]), message: z.string() }).strict(),
  z.object({ type: z.literal("error"), code: ErrorCode, message: z.string(), detail: z.string().nullable() }).strict(),
]);
export type Event = z.infer<typeof Event>;
export type EventOf<T extends Event["type"]> = Extract<Event, { type: T }>;

// ---- control (orchestrator -> engine: after each `eval` event; requests of lm.serve) ----

export const Control = z.discriminatedUnion("type", [
  z.object({ type: z.literal("continue") }).strict(),
  /** lm.grpo: the rewards of a `completions` event, one finite number per answer. */
  z.object({ type: z.literal("rewards"), step: nonNegInt, values: z.array(z.number()) }).strict(),
  z.object({ type: z.literal("stop"), reason: z.string() }).strict(),
  /** lm.serve: one generation request. */
  z
    .object({
      type: z.literal("generate"),
      id: z.string().min(1),
      prompt: z.array(nonNegInt).min(1),
      max_new_tokens: posInt,
      temperature: z.number().min(0),
      top_p: z.number().gt(0).max(1),
      seed: int,
      stop_token_ids: z.array(nonNegInt).min(1),
    })
    .strict(),
  /** lm.serve: give up a request (its client went away, or its time ran out): the generation
   * stops at its next token and reports finish_reason "cancelled". */
  z.object({ type: z.literal("cancel"), id: z.string().min(1) }).strict(),
]);
export type Control = z.infer<typeof Control>;

/** JSON Schema of the whole protocol, written for the engine by `npm run build`. */
export function protocolJsonSchema(): Record<string, unknown> {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "Hone engine protocol",
    description: "Generated from src/protocol/schema.ts by `npm run build`. Do not edit.",
    protocol_version: PROTOCOL_VERSION,
    constants: CONSTANTS,
    $defs: {
      Job: z.toJSONSchema(Job),
      Event: z.toJSONSchema(Event),
      Control: z.toJSONSchema(Control),
    },
  };
}
