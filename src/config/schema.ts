// The user's config: what a hone.yaml may say. Every field has a default or "auto";
// resolve.ts turns it into a complete ResolvedConfig that is saved with the run.
import { z } from "zod";
import { STRATEGIES } from "../hierarchy/strategies.js";
import { TASK_NAMES } from "../tasks/names.js";
import { ActivationBudget, PREFERENCE_LOSSES } from "../protocol/schema.js";

const strict = <T extends z.ZodRawShape>(shape: T) => z.object(shape).strict();

/** A data file: a path, or a path with its format and column mapping. */
export const DataSource = z.union([
  z.string().min(1),
  strict({
    path: z.string().min(1),
    /** conll and seq (a seq.in / seq.out / label folder) are token tasks' layouts. */
    format: z.enum(["auto", "jsonl", "json", "csv", "tsv", "conll", "seq"]).default("auto"),
    /** JSON pointer to the array of rows inside a JSON document, e.g. "/train". */
    pointer: z.string().startsWith("/").optional(),
    text: z.string().min(1).optional(),
    label: z.string().min(1).optional(),
  }),
]);
export type DataSource = z.infer<typeof DataSource>;

export const SplitConfig = strict({
  /** Fractions of the train file held out when no validation / test file is given. */
  validation: z.number().min(0).max(0.5).default(0.1),
  test: z.number().min(0).max(0.5).default(0.1),
  seed: z.number().int().default(42),
  stratify: z.boolean().default(true),
});

export const DataConfig = strict({
  /** Required, but for a zero-shot classifier (fewshot.method: zeroshot), whose classes are then
   * the labels of fewshot.descriptions. */
  train: DataSource.nullable().default(null),
  validation: DataSource.nullable().default(null),
  test: DataSource.nullable().default(null),
  /** Column (field) names; a column may also be a 0-based index for rows that are arrays. */
  text: z.string().min(1).default("text"),
  label: z.string().min(1).default("label"),
  multi_label: z.boolean().default(false),
  /** Labels that differ only by case, Unicode normalisation, zero-width characters or spaces are
   * one label, spelled as its most frequent spelling (otherwise: a warning names them). */
  merge_label_variants: z.boolean().default(false),
  /** For multi-label rows in CSV/TSV: labels in one cell separated by this string. */
  label_separator: z.string().min(1).default("|"),
  split: SplitConfig.default(SplitConfig.parse({})),
  /** Token budget per example (special tokens included); longer texts are truncated.
   * auto: 128 for classifiers, 1024 for generative tasks. */
  max_length: z.union([z.number().int().min(8).max(131072), z.literal("auto")]).default("auto"),
  /** Generative tasks: chat ({"messages": [{role, content}]}), prompt_completion, text, or
   * preference ({prompt, chosen, rejected} or OpenAI's preference format), unpaired ({prompt,
   * completion, label: true|false}: good / bad answers for dpo.loss kto); auto = by the rows' fields. */
  format: z.enum(["auto", "chat", "prompt_completion", "text", "preference", "unpaired"]).default("auto"),
  /** The model's own chat template unless given: a built-in name (chatml), a .jinja file or the template text. */
  chat_template: z.string().min(1).nullable().default(null),
  /** Chat data: learn from every assistant turn (assistant) or from every token (all). */
  loss_on: z.enum(["assistant", "all"]).default("assistant"),
  /** Generative tasks: several examples share one row of max_length tokens; attention and
   * positions stay within each example (no cross-contamination). */
  packing: z.boolean().default(true),
  /** Extra label columns, each a head on the shared encoder (multi-task), e.g.
   * `sentiment: { column: sentiment, loss_weight: 0.5 }`. The main label's loss weight is 1. */
  tasks: z
    .record(
      z.string().regex(/^[a-z][a-z0-9_]{0,40}$/, "task names are lower_snake_case identifiers"),
      strict({
        column: z.string().min(1),
        multi_label: z.boolean().default(false),
        loss_weight: z.number().positive().default(1),
      }),
    )
    .default({}),
});

export const HierarchyConfig = strict({
  /** flat: one head over full paths; per_level: one head per depth, joint, best consistent path;
   * local: one head per parent node (top-down routing). Compared in docs/benchmarks.md. */
  strategy: z.enum(STRATEGIES).default("per_level"),
  /** Levels in a path label ("payment/refund/late"). */
  separator: z.string().min(1).default("/"),
  /** One column per level, top first, instead of a path in data.label. */
  levels: z.array(z.string().min(1)).min(2).nullable().default(null),
  /** Nested YAML/JSON or a parent-child TSV (HiAGM format: "Root" line first); labels may
   * then be leaf names. Paths are checked against it. */
  taxonomy: z.string().min(1).nullable().default(null),
  /** best_path: most probable complete path; top_down: the likeliest child at each level. */
  decode: z.enum(["best_path", "top_down"]).default("best_path"),
  /** Loss weight of each level's decisions, top first (per_level and local); e.g. [2, 1] makes
   * the top-level decision count double. Missing levels weigh 1. */
  level_weights: z.array(z.number().positive()).min(1).nullable().default(null),
  /** per_level: weight of a loss that ties each level's probability mass to its parents'. */
  consistency_loss: z.number().min(0).default(0),
  /** Least confidence per level (top first) to go one level deeper; below it the prediction
   * stops at the parent (a partial path). Give thresholds, or a target precision to tune them
   * on validation, or neither (always a full path). */
  thresholds: z.array(z.number().min(0).max(1)).min(1).nullable().default(null),
  target_precision: z.number().gt(0).max(1).nullable().default(null),
});

export const ModelConfig = strict({
  /** A name from `hone models` or a local Hugging Face model directory; auto: all-minilm-l6-v2
   * for classifiers, smollm2-135m-instruct for generative tasks. */
  path: z.string().min(1).default("auto"),
  /** auto: mean pooling for sentence-embedding models (they ship 1_Pooling/), else [CLS]. */
  pooling: z.enum(["auto", "cls", "mean"]).default("auto"),
  dropout: z.number().min(0).max(0.9).default(0.1),
  /** Override the encoder's own dropout; null keeps the model's setting. */
  encoder_dropout: z.number().min(0).max(0.9).nullable().default(null),
  /** Start from another run's weights (id or name); the head is new if its labels differ. */
  init_from: z.string().min(1).nullable().default(null),
});

const Auto = z.literal("auto");

/** Parameter-efficient fine-tuning of generative models (peft). */
export const AdapterConfig = strict({
  /** auto: LoRA for generative tasks; none = full fine-tuning. */
  method: z.enum(["auto", "none", "lora", "dora"]).default("auto"),
  r: z.number().int().positive().max(1024).default(16),
  alpha: z.number().positive().default(32),
  dropout: z.number().min(0).max(0.9).default(0.05),
  /** all-linear: every linear layer of the blocks (not the output layer), or module names, e.g. [q_proj, v_proj]. */
  target_modules: z.union([z.literal("all-linear"), z.array(z.string().min(1)).min(1)]).default("all-linear"),
  /** nf4: QLoRA, the frozen base held in 4-bit NormalFloat (bitsandbytes, its block scales
   * quantized too), the adapter trained in full precision on top; none: the base as it is. */
  quantize: z.enum(["none", "nf4"]).default("none"),
});

/** Generation: samples stored with the run, generation-based evaluation, `hone generate`. */
export const GenerationConfig = strict({
  max_new_tokens: z.number().int().positive().max(32768).default(128),
  /** 0 = greedy decoding. */
  temperature: z.number().min(0).max(5).default(0),
  top_p: z.number().gt(0).max(1).default(1),
  /** Validation / test examples generated after training for exact match (0 = none). */
  eval_samples: z.number().int().min(0).default(32),
  /** Generative classifiers: the answer is one of these labels, read off the generation. */
  labels: z.array(z.string().min(1)).nullable().default(null),
});

/** The preference task's loss and its settings (task: dpo). */
export const DpoConfig = strict({
  /** dpo: against the starting model; orpo: odds ratio plus the answer's own loss, no reference
   * model (start from a base model); simpo: length-normalised, no reference model, a target
   * margin; kto: each answer judged on its own, from unpaired good / bad examples
   * ({prompt, completion, label: true|false}) or from pairs split into both. */
  loss: z.enum(PREFERENCE_LOSSES).default("dpo"),
  /** dpo, kto: strength of the pull towards the reference (0.1); simpo: scale of the
   * length-normalised reward (2.0); orpo: weight lambda of the odds-ratio term (0.1). null: the
   * loss's default. */
  beta: z.number().positive().max(10).nullable().default(null),
  /** simpo: the target reward margin gamma, as a fraction of beta. */
  gamma_beta_ratio: z.number().min(0).max(10).default(0.5),
  /** kto: weights of desirable and undesirable examples; with unbalanced data keep
   * desirable_weight x desirable count / (undesirable_weight x undesirable count) within 1 to 4/3. */
  desirable_weight: z.number().positive().max(100).default(1),
  undesirable_weight: z.number().positive().max(100).default(1),
});

/** Online reinforcement learning from prompts (task: grpo). */
export const GrpoConfig = strict({
  /** The reward: a JavaScript or TypeScript module (path relative to this file) whose default (or
   * `reward`) export maps ({prompt, completion, example}) to a number; `example` is the prompt's
   * data row, so checkable tasks give their answer there. It runs in the Hone process, never in
   * the engine. Or `run:<id or name>`: a finished reward run (task: reward) scores each answer. */
  reward: z.string().min(1).nullable().default(null),
  /** Answers sampled per prompt; their rewards are compared within the group. */
  group_size: z.number().int().min(2).max(256).default(8),
  max_new_tokens: z.number().int().positive().max(32768).default(128),
  temperature: z.number().gt(0).max(5).default(1),
  top_p: z.number().gt(0).max(1).default(1),
  /** KL penalty to the starting model (0: none, and no reference pass; TRL's default). */
  beta: z.number().min(0).max(10).default(0),
  /** The probability ratio is clipped to [1 - epsilon, 1 + epsilon]. */
  epsilon: z.number().gt(0).max(1).default(0.2),
  /** Divide each group's centred rewards by its standard deviation (GRPO), or only centre them. */
  scale_rewards: z.boolean().default(true),
});

/** Token tasks (token_classify): entity tags, optionally with an intent per sentence. */
export const TokenConfig = strict({
  /** Tags the model learns: io, bio or bioes; auto = the scheme of the training data (bio for spans). */
  scheme: z.enum(["auto", "io", "bio", "bioes"]).default("auto"),
  /** constrained: the most probable tag sequence the scheme allows (no I- after O); argmax: each
   * word's most probable tag, read the way conlleval reads it. */
  decode: z.enum(["constrained", "argmax"]).default("constrained"),
  /** Field names of JSONL / JSON rows: words and their tags, or a text and its character spans.
   * The sentence's intent (joint intent + slots) is read from data.label when the rows have it. */
  fields: strict({
    tokens: z.string().min(1).default("tokens"),
    tags: z.string().min(1).default("tags"),
    spans: z.string().min(1).default("spans"),
  }).default({ tokens: "tokens", tags: "tags", spans: "spans" }),
  /** Weight of the intent's loss against the tags' (joint intent + slot data). */
  intent_weight: z.number().positive().default(1),
});

/** Extractive question answering (extractive_qa): how contexts are cut and answers read. */
export const QaConfig = strict({
  /** Context tokens two neighbouring windows of a long context share. */
  stride: z.number().int().min(0).default(128),
  /** Longest answer, in tokens. */
  max_answer_tokens: z.number().int().positive().default(30),
  /** Starts and ends considered per window. */
  n_best: z.number().int().positive().max(100).default(20),
  /** Longest question, in tokens; longer ones are refused before training. */
  max_question_tokens: z.number().int().positive().default(64),
});

/** Classifiers with little data (classify, hierarchical): few-shot and zero-shot. */
export const FewShotConfig = strict({
  /** finetune: encoder and head learn from the examples; fewshot: first a contrastive stage on
   * pairs of examples (similar: the same label; SetFit's recipe), then encoder and head as in
   * finetune, the head starting from each label's mean embedding; zeroshot: no training, each
   * label's embedding of its name (and description) is its row of the head; auto: fewshot when the
   * median label has at most auto_below training examples, else finetune. */
  method: z.enum(["auto", "finetune", "fewshot", "zeroshot"]).default("auto"),
  auto_below: z.number().int().min(1).default(16),
  /** Pairs per training example in each epoch of the contrastive stage, half similar, half not:
   * the stage's budget. */
  pairs_per_example: z.number().int().positive().max(1000).default(20),
  epochs: z.number().int().positive().max(100).default(1),
  /** Pairs per optimizer step of the contrastive stage. */
  batch_size: z.number().int().positive().max(4096).default(16),
  lr: z.number().gt(0).max(1).default(2e-5),
  /** How the head starts: random, prototypes (the mean embedding of each label's examples) or
   * labels (the embedding of each label's name and description); auto: prototypes after a
   * contrastive stage, labels for zeroshot, random for finetune. */
  head_init: z.enum(["auto", "random", "prototypes", "labels"]).default("auto"),
  /** An initialised head's logits are this times the cosine similarity. */
  scale: z.number().positive().max(1000).default(20),
  /** Descriptions of the labels, for zeroshot and head_init: labels: a map { label: text }, a list
   * of labels (each read by its name), or a YAML / JSON file of either. A label without one is read
   * by its name ("card_arrival": "card arrival"). */
  descriptions: z
    .union([z.string().min(1), z.record(z.string(), z.string().min(1)), z.array(z.union([z.string().min(1), z.number()])).min(1)])
    .nullable()
    .default(null),
});

/** Default prompts of augmentation: a list that the model continues with one more line. {label}:
 * the label's name as words; {description}: its description (or that name); {text}: the example
 * to rewrite; {examples}: some examples of the label, one "- text" line each. */
export const AUGMENT_PROMPTS = {
  paraphrase: 'The same request to a virtual assistant (intent "{description}"), written in different ways:\n- {text}\n-',
  new: 'Messages that users sent to a virtual assistant, all with the intent "{description}":\n{examples}-',
};

/** Classifiers: more training examples written by a generative model, kept only when they help. */
export const AugmentConfig = strict({
  enabled: z.boolean().default(false),
  /** The writer: a catalog generative model, a model folder, or a finished sft/dpo run (id or name). */
  model: z.string().min(1).default("smollm2-135m-instruct"),
  /** Rewrites asked for per training example. */
  paraphrases: z.number().int().min(0).max(100).default(2),
  /** New examples asked for per label, from its description and some of its examples. */
  per_label: z.number().int().min(0).max(10000).default(5),
  /** Examples of the label shown in a prompt for new examples. */
  examples_in_prompt: z.number().int().min(0).max(50).default(5),
  prompts: strict({
    paraphrase: z.string().min(1).default(AUGMENT_PROMPTS.paraphrase),
    new: z.string().min(1).default(AUGMENT_PROMPTS.new),
  }).default(AUGMENT_PROMPTS),
  temperature: z.number().min(0).max(5).default(0.8),
  top_p: z.number().gt(0).max(1).default(0.95),
  /** A generated example is its first line, at most this many tokens. */
  max_new_tokens: z.number().int().positive().max(512).default(32),
  /** Prompts per generation batch of the engine; auto: 32 on the CPU, 256 on a GPU (where a
   * small writer's decoding step costs about the same for 32 prompts as for 256). */
  batch_size: z.union([z.number().int().positive().max(1024), Auto]).default("auto"),
  /** Prompts per resumable chunk: an interrupted generation goes on from the last whole chunk. */
  chunk: z.number().int().positive().max(100000).default(512),
  seed: z.number().int().min(0).default(0),
  /** Two texts whose character-trigram Jaccard similarity is at least this are the same text
   * (near duplicates dropped; too close to a validation/test text: dropped as leakage). */
  near_duplicate: z.number().gt(0).max(1).default(0.8),
  /** A generated example that the run trained without it assigns to another label with at least
   * this probability is dropped. */
  reject_confidence: z.number().gt(0).max(1).default(0.9),
  /** A generated example is kept only if that same run ranks its own label first with at least
   * this probability: the consistency filter of LAMBADA (Anaby-Tavor et al. 2020), which keeps the
   * examples the classifier already reads as meant, for a weak writer; 0 turns it off. */
  min_confidence: z.number().min(0).max(1).default(0),
  /** if_better: the augmented run is kept only when its validation score beats the run without
   * (both measured); always: it is kept either way (the report still shows both). */
  keep: z.enum(["if_better", "always"]).default("if_better"),
});

export const TrainConfig = strict({
  epochs: z.number().positive().default(5),
  /** Overrides epochs when set (a few-shot run's contrastive stage is capped at it too). */
  max_steps: z.number().int().positive().nullable().default(null),
  /** auto: by model width (1e-4 up to 384 hidden units, 5e-5 up to 768, 2e-5 above). */
  lr: z.union([z.number().gt(0, "must be > 0").max(1), Auto]).default("auto"),
  /** Learning rate of the new heads; auto = same as lr. */
  head_lr: z.union([z.number().gt(0, "must be > 0").max(1), Auto]).default("auto"),
  batch_size: z.number().int().positive().max(4096).default(32),
  grad_accum: z.number().int().positive().default(1),
  /** Warmup as a fraction of all steps. */
  warmup_ratio: z.number().min(0).max(0.5).default(0.06),
  scheduler: z.enum(["linear", "cosine", "constant"]).default("linear"),
  weight_decay: z.number().min(0).max(1).default(0.01),
  betas: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).default([0.9, 0.999]),
  eps: z.number().positive().default(1e-8),
  label_smoothing: z.number().min(0).max(0.5).default(0),
  /** Classifiers' sequence heads: balanced weighs each class's loss by n / (classes x its count)
   * in the training data, and each label of a multi-label head its positives and negatives by
   * n / (2 x their count) (scikit-learn's class_weight="balanced"), so that a rare class or label
   * counts as much as a common one; none: every example alike. */
  class_weight: z.enum(["none", "balanced"]).default("none"),
  /** Gradient clipping by global norm; null disables it. */
  max_grad_norm: z.number().positive().nullable().default(1.0),
  seed: z.number().int().default(42),
  device: z.enum(["auto", "cpu", "cuda"]).default("auto"),
  /** auto: bf16 on a GPU that supports it, fp32 on the CPU. */
  precision: z.enum(["auto", "fp32", "bf16"]).default("auto"),
  /** CPU threads for the engine; auto = all cores available. */
  threads: z.union([z.number().int().positive(), Auto]).default("auto"),
  /** Evaluate on validation (and checkpoint) every N steps, or once per epoch. */
  eval_every: z.union([z.number().int().positive(), z.literal("epoch")]).default("epoch"),
  eval_batch_size: z.number().int().positive().default(128),
  /** torch.compile the model's repeated layers (one compiled graph shared by all of them, so it
   * compiles in seconds); auto = on a GPU, where training is bound by kernel launches, off on the
   * CPU (docs/benchmarks.md). */
  compile: z.union([z.boolean(), Auto]).default("auto"),
  group_by_length: z.boolean().default(true),
  /** Recompute activations in the backward pass: less memory, about a third more compute. true:
   * every decoder layer; N: the first N layers only (generative tasks), trading the memory of their
   * activations for their share of the recomputation (docs/benchmarks.md measures both). */
  gradient_checkpointing: z.union([z.boolean(), z.number().int().positive()]).default(false),
  /** Generative tasks on a GPU: keep AdamW's moments (8 bytes a trained parameter) in host memory
   * and step there; the GPU keeps weights and gradients. Worth it for full fine-tuning of a model
   * whose optimizer state does not fit; costs a copy of weights and gradients each way a step and
   * the CPU's update (docs/benchmarks.md). No effect on the CPU, where the state already is. */
  optimizer_offload: z.boolean().default(false),
  /** Generative tasks with compiled layers: the share of a layer's saved activations that the
   * compiler may keep for the backward pass (1 = all it would save; 0 would keep only the layer's
   * input, like checkpointing). Below 1, torch.compile's memory-budget partitioner recomputes the
   * cheapest of the rest in the backward pass, elementwise work (norms, the MLP's gate x up) before
   * any matmul. On the 1.24B Llama shape (packed real data, one H200), 0.8 lowered the peak from
   * 24.4 to 18.7 GiB; its speed cost is not yet cleanly measured (docs/benchmarks.md). No effect
   * without compile (the CPU's default). */
  activation_budget: ActivationBudget.default(1),
  /** Generative tasks: processes sharing one run through torchrun, batch_size rows each (data
   * parallel, gradients summed every step); auto = every visible GPU, 1 on the CPU. */
  processes: z.union([z.number().int().positive().max(64), Auto]).default("auto"),
  /** Generative tasks: shard parameters, gradients and optimizer state over the processes (FSDP2,
   * one shard unit per layer) instead of each process holding all of them: the same training,
   * less memory per GPU, one all-gather per layer and pass more. */
  fsdp: z.boolean().default(false),
  /** Generative tasks (sft, dpo, reward) over several machines, through torchrun's c10d
   * rendezvous: every machine runs the same `hone train` (same config, same data) with its own
   * rank, `processes` processes each. Node 0, the head, keeps the run (store, checkpoints,
   * report); the others only train. Flags: --nodes, --node-rank, --endpoint. */
  nodes: strict({
    count: z.number().int().positive().max(1024).default(1),
    /** 0 on the head; 1..count-1 on the others, each its own. */
    rank: z.number().int().min(0).default(0),
    /** host:port of the rendezvous, the head's address as every node reaches it. */
    endpoint: z
      .string()
      .regex(/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/, "host:port, e.g. 10.0.0.1:29500")
      .nullable()
      .default(null),
    /** Names the rendezvous: two jobs sharing an endpoint need different ids. */
    id: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, "letters, digits, '.', '_' or '-'")
      .default("hone"),
  }).default({ count: 1, rank: 0, endpoint: null, id: "hone" }),
  early_stopping: strict({
    /** Metric that picks the best checkpoint; auto = accuracy (single-label) or micro_f1 (multi-label). */
    /** Generative tasks: loss (sft), reward_accuracy or reward_margin (dpo). */
    /** Token tasks: f1 (entities), tag_accuracy, intent_accuracy, exact_match; extractive_qa: f1, exact_match. */
    metric: z
      .enum([
        "auto",
        "accuracy",
        "macro_f1",
        "micro_f1",
        "weighted_f1",
        "loss",
        "reward_accuracy",
        "reward_margin",
        "f1",
        "tag_accuracy",
        "intent_accuracy",
        "exact_match",
      ])
      .default("auto"),
    /** Stop after this many evaluations without improvement; 0 = never stop early. */
    patience: z.number().int().min(0).default(0),
    min_delta: z.number().min(0).default(0),
  }).default({ metric: "auto", patience: 0, min_delta: 0 }),
  freeze: strict({
    embeddings: z.boolean().default(false),
    /** Freeze the first N encoder layers. */
    layers: z.number().int().min(0).default(0),
    /** Regular expressions over parameter names, e.g. "attention". */
    patterns: z.array(z.string().min(1)).default([]),
  }).default({ embeddings: false, layers: 0, patterns: [] }),
});

/** A search-space entry: "loguniform(1e-5, 1e-3)", a list of choices, or with a condition:
 * `{ dist: "uniform(0, 0.2)", when: { train.scheduler: [cosine] } }`. Parsed in src/tune/space.ts. */
const ParamSpec = z.union([
  z.string().min(1),
  z.array(z.union([z.string(), z.number(), z.boolean(), z.null()])),
  strict({
    dist: z.union([z.string().min(1), z.array(z.union([z.string(), z.number(), z.boolean(), z.null()]))]),
    when: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.union([z.string(), z.number(), z.boolean(), z.null()]))]))
      .optional(),
  }),
]);

const Duration = z.union([z.number().positive(), z.string().regex(/^\d+(\.\d+)?\s*(s|m|h)$/, 'a duration like "90s", "30m" or "2h"')]);

export const TuneConfig = strict({
  /** Dotted paths of config fields and their distributions: uniform, loguniform, quniform, int,
   * logint, choice (or a YAML list). Every field of the config can be searched. */
  space: z.record(z.string(), ParamSpec).refine((s) => Object.keys(s).length > 0, "the search space is empty"),
  /** Validation metric(s) to optimise; auto = the early-stopping metric. Several = multi-objective
   * (Pareto front). Besides the metrics: train_seconds, model_mb. */
  metric: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).default("auto"),
  /** auto: minimise loss, train_seconds and model_mb, maximise the rest. */
  direction: z.union([z.enum(["auto", "maximize", "minimize"]), z.array(z.enum(["auto", "maximize", "minimize"])).min(1)]).default("auto"),
  sampler: z.enum(["tpe", "gp", "random", "sobol", "grid"]).default("tpe"),
  /** Random (Sobol) trials before TPE / GP model the history. */
  startup_trials: z.number().int().min(1).default(10),
  /** Points per float axis of a grid (ints and choices use every value). */
  grid_points: z.number().int().min(2).default(5),
  /** Stop unpromising trials on their intermediate validation metric. */
  pruner: z.enum(["none", "median", "asha", "hyperband"]).default("asha"),
  /** Smallest budget (epochs) a trial gets before it can be pruned; rungs grow by reduction_factor. */
  min_resource: z.number().positive().default(1),
  reduction_factor: z.number().int().min(2).default(3),
  /** median: trials that must finish before pruning starts. */
  pruner_startup_trials: z.number().int().min(0).default(5),
  trials: z.number().int().positive().default(20),
  /** Wall-clock budget of the study; running trials finish, no new ones start. */
  timeout: Duration.nullable().default(null),
  /** Trials at once, each its own engine process. */
  parallel: z.number().int().positive().default(1),
  /** GPU ids to spread trials over (auto: all visible); trials_per_gpu trials share one GPU. */
  gpus: z.union([z.literal("auto"), z.array(z.number().int().min(0)).min(1)]).default("auto"),
  trials_per_gpu: z.number().int().positive().default(1),
  /** A failed trial is tried again this many times, then recorded as failed; the study goes on. */
  retries: z.number().int().min(0).default(1),
  seed: z.number().int().default(0),
});
export type TuneConfig = z.infer<typeof TuneConfig>;

/** The layout of hone.yaml this Hone reads; a file may say which it was written for. */
export const CONFIG_VERSION = 1;

export const UserConfig = strict({
  $schema: z.string().optional(),
  /** The hone.yaml layout the file is written for (1; a file without it is read as 1). */
  version: z.literal(CONFIG_VERSION, { error: `this Hone reads config version ${CONFIG_VERSION}; a newer version needs a newer Hone` }).default(CONFIG_VERSION),
  /** classify / hierarchical: encoder classifiers; sft: supervised fine-tuning of a causal LM;
   * dpo: preference tuning (direct preference optimisation) against the starting model. */
  task: z.enum(TASK_NAMES).default("classify"),
  /** A name for the run; ids stay unique. */
  name: z.string().min(1).max(100).optional(),
  /** The model's settings, or only its name or folder (`model: all-minilm-l6-v2`). */
  model: z
    .union(
      [
        z
          .string()
          .min(1)
          .transform((path) => ModelConfig.parse({ path })),
        ModelConfig,
      ],
      {
        error: "expected a model name or folder, or a mapping {path, pooling, ...}",
      },
    )
    .default(ModelConfig.parse({})),
  data: DataConfig,
  hierarchy: HierarchyConfig.default(HierarchyConfig.parse({})),
  train: TrainConfig.default(TrainConfig.parse({})),
  adapter: AdapterConfig.default(AdapterConfig.parse({})),
  generation: GenerationConfig.default(GenerationConfig.parse({})),
  dpo: DpoConfig.default(DpoConfig.parse({})),
  grpo: GrpoConfig.default(GrpoConfig.parse({})),
  token: TokenConfig.default(TokenConfig.parse({})),
  qa: QaConfig.default(QaConfig.parse({})),
  fewshot: FewShotConfig.default(FewShotConfig.parse({})),
  augment: AugmentConfig.default(AugmentConfig.parse({})),
  /** Hyperparameter search (`hone tune`); `hone train` ignores it. */
  tune: TuneConfig.optional(),
}).superRefine((c, ctx) => {
  if (c.hierarchy.thresholds && c.hierarchy.target_precision !== null) {
    ctx.addIssue({ code: "custom", path: ["hierarchy", "thresholds"], message: "give thresholds or target_precision, not both" });
  }
});
export type UserConfig = z.infer<typeof UserConfig>;
export type UserConfigInput = z.input<typeof UserConfig>;

/** JSON Schema for editors (`hone schema > hone.schema.json`). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(UserConfig, { io: "input" }) as Record<string, unknown>;
}
