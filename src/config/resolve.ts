// UserConfig -> ResolvedConfig: every "auto" decided, every path absolute, every default
// written out. Resolved once; everything downstream (data, engine job, store) sees only this.
import { DEFAULT_PREFERENCE_BETA, type EventOf } from "../protocol/schema.js";
import { resolveModel, type ModelInfo } from "../models/catalog.js";
import type { TaskName } from "../tasks/names.js";
import type { DataSource, UserConfig } from "./schema.js";
import { RESOLVED_VERSION, type ResolvedConfig, type ResolvedHierarchy, type ResolvedLm, type ResolvedSource } from "./resolved.js";
import { resolvePath, type LoadedConfig } from "./load.js";
import { HoneError, type Issue } from "../util/errors.js";
import { BUILTIN_TEMPLATES } from "../generative/chat-template.js";

export { ResolvedConfig, ResolvedHierarchy, ResolvedLm, ResolvedSource, ResolvedTask, RESOLVED_VERSION } from "./resolved.js";

export type Task = TaskName;

/** What a task says about its config (src/tasks/<name>/): resolveConfig asks these instead of
 * asking which task it resolves. */
export interface TaskConfigHooks {
  /** The model it trains: an encoder under classification heads, or a generator (a causal LM, or
   * for some tasks an encoder-decoder). */
  model: "encoder" | "generator";
  /** Catalog name of the model used when model.path is auto. */
  defaultModel: string;
  /** data.max_length when auto. */
  defaultMaxLength: number;
  /** train.lr when auto, by the model's width and whether an adapter trains. */
  defaultLr(hiddenSize: number, adapter: boolean): number;
  /** Metrics that may pick the best checkpoint; "auto" means auto(config). */
  selection: { allowed: readonly string[]; auto(c: UserConfig): string };
  /** Whether this config needs no training data (a zero-shot classifier); absent: it always does. */
  withoutTrain?(c: UserConfig): boolean;
  /** The task's own checks of the user's config against the model (throw a HoneError). */
  check?(c: UserConfig, info: ModelInfo): void;
  /** The task's own sections of the resolved config. */
  section?(
    c: UserConfig,
    ctx: { baseDir: string; device: "cpu" | "cuda"; precision: "fp32" | "bf16"; info: ModelInfo },
  ): Pick<ResolvedConfig, "hierarchy" | "lm" | "token" | "qa" | "fewshot" | "augment">;
}

export type MachineProbe = EventOf<"probe">;

/** Encoder tasks train in one process: FSDP and several nodes are for causal language models. */
export function trainsInOneProcess(c: UserConfig): void {
  if (c.train.fsdp)
    throw new HoneError("config", "FSDP shards causal language models for sft and dpo", [
      { path: ["train", "fsdp"], message: `task ${c.task} trains in one process`, hint: "remove train.fsdp" },
    ]);
  if (c.train.optimizer_offload)
    throw new HoneError("config", "optimizer offload is for the generative tasks", [
      { path: ["train", "optimizer_offload"], message: `task ${c.task} keeps its optimizer on the device`, hint: "remove train.optimizer_offload" },
    ]);
  if (c.train.activation_budget < 1)
    throw new HoneError("config", "an activation budget is for the generative tasks", [
      { path: ["train", "activation_budget"], message: `task ${c.task} keeps all of its layers' activations`, hint: "remove train.activation_budget" },
    ]);
  if (c.train.nodes.count > 1)
    throw new HoneError("config", "training over several machines is for sft, dpo and reward", [
      { path: ["train", "nodes", "count"], message: `task ${c.task} trains in one process`, hint: "remove train.nodes (or --nodes)" },
    ]);
}

/** Several machines: each needs the rendezvous endpoint and a rank of its own within the count. */
function checkNodes(c: UserConfig): void {
  const n = c.train.nodes;
  if (n.rank >= n.count)
    throw new HoneError("config", `node rank ${n.rank} is not below the node count ${n.count}`, [
      {
        path: ["train", "nodes", "rank"],
        message: `ranks run from 0 (the head) to ${n.count - 1}`,
        hint: "--node-rank 0 on the head, 1, 2, ... on the others",
      },
    ]);
  if (n.count > 1 && n.endpoint === null)
    throw new HoneError("config", "training over several machines needs the rendezvous endpoint", [
      { path: ["train", "nodes", "endpoint"], message: "missing", hint: "--endpoint <head's address>:29500, the same on every node" },
    ]);
}

/** An encoder's learning rate by its width: smaller models tolerate (and need) larger steps. */
export function defaultLearningRate(hiddenSize: number): number {
  if (hiddenSize <= 384) return 1e-4;
  if (hiddenSize <= 768) return 5e-5;
  return 2e-5;
}

function resolveSelectionMetric(c: UserConfig, hooks: TaskConfigHooks): string {
  const m = c.train.early_stopping.metric;
  if (m === "auto") return hooks.selection.auto(c);
  if (hooks.selection.allowed.includes(m)) return m;
  throw new HoneError("config", "invalid early-stopping metric", [
    {
      path: ["train", "early_stopping", "metric"],
      message: `"${m}" is not a metric of task ${c.task}`,
      hint: `use one of: auto, ${hooks.selection.allowed.join(", ")}`,
    },
  ]);
}

/** The lm section of a generative task's resolved config; `packs`: the task packs several examples into one row. */
export function resolveLm(
  c: UserConfig,
  ctx: { baseDir: string; device: "cpu" | "cuda"; precision: "fp32" | "bf16"; info: ModelInfo },
  packs: boolean,
): Omit<ResolvedLm, "head"> {
  const { baseDir, device, precision, info } = ctx;
  const method = c.adapter.method === "auto" ? "lora" : c.adapter.method;
  if (c.adapter.quantize === "nf4" && method === "none")
    throw new HoneError("config", "a 4-bit base trains through an adapter", [
      {
        path: ["adapter", "quantize"],
        message: "nf4 with adapter.method none (full fine-tuning)",
        hint: "use adapter.method: lora (QLoRA) or dora, or remove adapter.quantize",
      },
    ]);
  if (c.adapter.quantize === "nf4" && c.train.fsdp)
    throw new HoneError("config", "a 4-bit base is not sharded", [
      {
        path: ["train", "fsdp"],
        message: "FSDP with adapter.quantize: nf4",
        hint: "remove train.fsdp: the 4-bit base is small enough to hold whole on each GPU",
      },
    ]);
  if (c.train.optimizer_offload && c.train.fsdp)
    throw new HoneError("config", "the optimizer is offloaded or sharded, not both", [
      {
        path: ["train", "optimizer_offload"],
        message: "optimizer_offload with train.fsdp",
        hint: "remove one: FSDP already divides the optimizer's state over the GPUs",
      },
    ]);
  const t = c.data.chat_template;
  const architecture = info.seq2seqLm ? "seq2seq" : "causal";
  return {
    architecture,
    format: c.data.format,
    chat_template: t === null ? null : BUILTIN_TEMPLATES[t] ? `builtin:${t}` : t.includes("{") ? t : resolvePath(baseDir, t),
    loss_on: c.data.loss_on,
    // An encoder-decoder reads each prompt on its own: packing is for causal LMs.
    packing: c.data.packing && packs && architecture === "causal",
    adapter: { method, r: c.adapter.r, alpha: c.adapter.alpha, dropout: c.adapter.dropout, target_modules: c.adapter.target_modules },
    generation: c.generation,
    dpo: { ...c.dpo, beta: c.dpo.beta ?? DEFAULT_PREFERENCE_BETA[c.dpo.loss] },
    base_weights: c.adapter.quantize === "nf4" ? "nf4" : method !== "none" && device === "cuda" && precision === "bf16" ? "bf16" : "fp32",
  };
}

/** The hierarchy section of a hierarchical task's resolved config. */
export function resolveHierarchy(c: UserConfig, baseDir: string): ResolvedHierarchy {
  return { ...c.hierarchy, taxonomy: c.hierarchy.taxonomy === null ? null : resolvePath(baseDir, c.hierarchy.taxonomy) };
}

function source(src: DataSource | null, baseDir: string, cfg: UserConfig["data"]): ResolvedSource | null {
  if (src === null) return null;
  if (typeof src === "string") return { path: resolvePath(baseDir, src), format: "auto", pointer: null, text: cfg.text, label: cfg.label };
  return { path: resolvePath(baseDir, src.path), format: src.format, pointer: src.pointer ?? null, text: src.text ?? cfg.text, label: src.label ?? cfg.label };
}

/** Settings the machine or the model cannot honour, found before any work starts. */
function checkAgainstMachineAndModel(c: UserConfig, machine: MachineProbe, info: ModelInfo, defaultMaxLength: number): void {
  const issues: Issue[] = [];
  if (c.train.device === "cuda" && !machine.cuda) {
    issues.push({
      path: ["train", "device"],
      message: `cuda was asked for, but torch ${machine.torch || "(unknown)"} sees no usable CUDA GPU here`,
      hint: "use device: auto (the GPU when there is one) or cpu",
    });
  }
  const maxLength = c.data.max_length === "auto" ? Math.min(defaultMaxLength, info.maxPositions ?? Infinity) : c.data.max_length;
  if (info.maxPositions !== null && maxLength > info.maxPositions) {
    issues.push({
      path: ["data", "max_length"],
      message: `${maxLength} tokens, but the model's position embeddings cover ${info.maxPositions}`,
      hint: `use data.max_length ${info.maxPositions} or less`,
    });
  }
  c.train.freeze.patterns.forEach((p, i) => {
    try {
      new RegExp(p);
    } catch (e) {
      issues.push({
        path: ["train", "freeze", "patterns", i],
        message: `"${p}" is not a regular expression: ${(e as Error).message}`,
        hint: "patterns are regular expressions over parameter names, e.g. attention",
      });
    }
  });
  if (issues.length > 0)
    throw new HoneError(
      "config",
      issues.length === 1 ? "a setting this machine or model cannot honour" : `${issues.length} settings this machine or model cannot honour`,
      issues,
    );
}

/** The complete config of a run. The task's hooks come from its plug-in (src/tasks/registry.ts,
 * whose resolveConfig looks them up). */
export function resolveWith(hooks: TaskConfigHooks, loaded: LoadedConfig, machine: MachineProbe, model?: ModelInfo): ResolvedConfig {
  const { config: c, baseDir } = loaded;
  if (c.data.train === null && !hooks.withoutTrain?.(c))
    throw new HoneError("config", "no training data", [
      {
        file: loaded.file ?? undefined,
        path: ["data", "train"],
        message: "missing",
        hint: `give data.train in the config, or --data train.jsonl${hooks.withoutTrain ? "; only a zero-shot classifier (fewshot.method: zeroshot) needs none, its classes being fewshot.descriptions' labels" : ""}`,
      },
    ]);
  const ref = c.model.path === "auto" ? hooks.defaultModel : c.model.path;
  const info = model ?? resolveModel(ref, baseDir);
  const device = c.train.device === "auto" ? (machine.cuda ? "cuda" : "cpu") : c.train.device;
  const precision = c.train.precision === "auto" ? (device === "cuda" && machine.bf16 ? "bf16" : "fp32") : c.train.precision;
  const compile = c.train.compile === "auto" ? device === "cuda" : c.train.compile;
  const generative = hooks.model === "generator";
  const generator = info.causalLm || info.seq2seqLm;
  if (generative !== generator) {
    throw new HoneError("model", `model "${ref}" cannot do task ${c.task}`, [
      {
        path: ["model", "path"],
        message: generator
          ? "it is a language model (text generation), not an encoder for classification"
          : `it is not a language model that generates text (architectures: ${info.architectures.join(", ") || "none"})`,
        hint: generator
          ? "use task: sft or dpo with it, or an encoder (BERT, RoBERTa, MiniLM...) for classify"
          : "sft and dpo need a *ForCausalLM model (Llama, Qwen, GPT-2, SmolLM...) or, for sft, a *ForConditionalGeneration encoder-decoder (T5, BART)",
      },
    ]);
  }
  if (!generative && c.adapter.method !== "auto" && c.adapter.method !== "none") {
    throw new HoneError("config", "adapters are for generative tasks", [
      {
        path: ["adapter", "method"],
        message: `${c.adapter.method} is not available for task ${c.task}`,
        hint: "remove the adapter section, or use freeze: for a cheaper classifier",
      },
    ]);
  }
  hooks.check?.(c, info);
  checkNodes(c);
  checkAgainstMachineAndModel(c, machine, info, hooks.defaultMaxLength);
  const adapterOn = generative && c.adapter.method !== "none";
  const lr = c.train.lr === "auto" ? hooks.defaultLr(info.hiddenSize, adapterOn) : c.train.lr;
  const section = hooks.section?.(c, { baseDir, device, precision, info }) ?? {};
  if (c.augment.enabled && !section.augment)
    throw new HoneError("config", `augmentation is for classifier tasks`, [
      { path: ["augment", "enabled"], message: `task ${c.task} has no augment step`, hint: "remove the augment section, or use task: classify / hierarchical" },
    ]);
  return {
    version: RESOLVED_VERSION,
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
      train: source(c.data.train, baseDir, c.data),
      validation: source(c.data.validation, baseDir, c.data),
      test: source(c.data.test, baseDir, c.data),
      multi_label: c.data.multi_label,
      merge_label_variants: c.data.merge_label_variants,
      label_separator: c.data.label_separator,
      split: c.data.split,
      // auto: the task's default, cut to what the model's positions cover.
      max_length: c.data.max_length === "auto" ? Math.min(hooks.defaultMaxLength, info.maxPositions ?? Infinity) : c.data.max_length,
      tasks: Object.entries(c.data.tasks).map(([name, t]) => ({ name, ...t })),
      generated: null,
    },
    ...section,
    train: {
      ...c.train,
      lr,
      head_lr: c.train.head_lr === "auto" ? lr : c.train.head_lr,
      device,
      precision,
      threads: device === "cpu" ? (c.train.threads === "auto" ? machine.cpu_threads : c.train.threads) : null,
      compile,
      // On the CPU the optimizer's state is in host memory already: offloading would only copy it.
      optimizer_offload: c.train.optimizer_offload && device === "cuda",
      // Without compiled layers there is no partitioner to give the budget to.
      activation_budget: compile ? c.train.activation_budget : 1,
      processes: c.train.processes === "auto" ? (generative && device === "cuda" ? Math.max(1, machine.devices.length) : 1) : c.train.processes,
      early_stopping: { ...c.train.early_stopping, metric: resolveSelectionMetric(c, hooks) },
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
