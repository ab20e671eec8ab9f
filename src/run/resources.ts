// Memory and throughput of a run, whatever its task: the series the lifecycle logs from the
// engine's progress events, and their summary in the report (resources.json) and `hone runs show`;
// beside them the task's estimate made before the run (plan.memory_estimate, where it makes one:
// src/generative/memory.ts), so every run checks its estimate against what it measured.
import type { PeakMemory } from "../protocol/schema.js";
import type { MetricPoint } from "../store/store.js";

const GIB = 2 ** 30;

/** The train series of one progress event's peaks, in GiB. */
export function memorySeries(m: PeakMemory): Record<string, number | null> {
  return {
    peak_gpu_allocated_gib: m.allocated_bytes === null ? null : m.allocated_bytes / GIB,
    peak_gpu_reserved_gib: m.reserved_bytes === null ? null : m.reserved_bytes / GIB,
    peak_rss_gib: m.rss_bytes / GIB,
  };
}

/** One line for the progress bar: the GPU's peak where there is one, else the process's. */
export function memoryText(m: PeakMemory): string {
  if (m.allocated_bytes !== null && m.reserved_bytes !== null)
    return `peak ${(m.allocated_bytes / GIB).toFixed(1)} GiB GPU (${(m.reserved_bytes / GIB).toFixed(1)} reserved)`;
  return `peak ${(m.rss_bytes / GIB).toFixed(1)} GiB RAM`;
}

export interface Resources {
  /** Peaks over the whole run (every attempt of a resumed one), GiB; null where not measured. */
  peak_gpu_allocated_gib: number | null;
  peak_gpu_reserved_gib: number | null;
  peak_rss_gib: number | null;
  /** Median over the run's progress events: each measures training only (not evaluation or saving). */
  tokens_per_s: number | null;
  samples_per_s: number | null;
  /** The task's estimate before the run (GiB per process), and measured GPU peak / estimate. */
  estimate_gib: number | null;
  measured_over_estimate: number | null;
}

export function resourcesOf(points: MetricPoint[], estimate: MemoryEstimate | null = null): Resources | null {
  const train = points.filter((p) => p.split === "train");
  if (!train.length) return null;
  const values = (name: string) => train.filter((p) => p.name === name && p.value !== null).map((p) => p.value);
  const max = (name: string) => (values(name).length ? Math.max(...values(name)) : null);
  const median = (name: string) => {
    const v = values(name).sort((a, b) => a - b);
    return v.length ? v[Math.floor(v.length / 2)]! : null;
  };
  const gpuPeak = max("peak_gpu_allocated_gib");
  return {
    peak_gpu_allocated_gib: gpuPeak,
    peak_gpu_reserved_gib: max("peak_gpu_reserved_gib"),
    peak_rss_gib: max("peak_rss_gib"),
    tokens_per_s: median("tokens_per_s"),
    samples_per_s: median("samples_per_s"),
    estimate_gib: estimate ? estimate.total / GIB : null,
    // On a GPU only: a CPU process's resident set holds libraries and data the estimate leaves out.
    measured_over_estimate: estimate && gpuPeak !== null ? gpuPeak / (estimate.total / GIB) : null,
  };
}

export function renderResources(r: Resources): string {
  const gib = (v: number | null) => (v === null ? "-" : `${v.toFixed(2)} GiB`);
  const parts = [
    r.peak_gpu_allocated_gib !== null ? `peak GPU memory ${gib(r.peak_gpu_allocated_gib)} allocated, ${gib(r.peak_gpu_reserved_gib)} reserved` : null,
    r.peak_rss_gib !== null ? `peak process memory (RSS) ${gib(r.peak_rss_gib)}` : null,
    r.tokens_per_s !== null ? `${Math.round(r.tokens_per_s).toLocaleString("en-US")} tokens/s` : null,
    r.samples_per_s !== null ? `${r.samples_per_s.toFixed(1)} samples/s` : null,
    r.estimate_gib !== null
      ? `estimated ${gib(r.estimate_gib)} before the run${r.measured_over_estimate !== null ? ` (measured ${r.measured_over_estimate.toFixed(2)}x that)` : ""}`
      : null,
  ];
  return parts.filter(Boolean).join("; ");
}

/** Memory per process that a task estimates before a run (its plan's memory_estimate). */
export interface MemoryEstimate {
  /** Bytes per process. */
  weights: number;
  trained_state: number;
  activations: number;
  logits: number;
  total: number;
  inputs: {
    parameters: number;
    trained_parameters: number;
    layers: number;
    hidden: number;
    kv: number;
    intermediate: number;
    gated_mlp: boolean;
    vocab: number;
    tokens_per_micro_batch: number;
    bytes_per_activation: number;
    checkpointing: boolean | number;
    /** AdamW's moments in host memory (absent in estimates made before offload: false). */
    optimizer_offload?: boolean;
    /** Share of compiled layers' activations kept (absent in estimates made before it: 1). */
    activation_budget?: number;
    shards: number;
  };
}

const gibText = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

export function renderEstimate(e: MemoryEstimate, device: string): string {
  const i = e.inputs;
  return [
    `memory per process (estimate, ${device}): ${gibText(e.total)}`,
    `  weights ${gibText(e.weights)} (${(i.parameters / 1e6).toFixed(1)}M parameters)`,
    `  trained state ${gibText(e.trained_state)} (${(i.trained_parameters / 1e6).toFixed(2)}M trained: weights, gradients${i.optimizer_offload ? "; AdamW in host memory" : ", AdamW"})`,
    `  activations ${gibText(e.activations)} (${i.tokens_per_micro_batch} tokens a micro-batch, ${i.layers} layers${i.checkpointing === true ? ", checkpointed" : i.checkpointing ? `, the first ${i.checkpointing} checkpointed` : ""}${(i.activation_budget ?? 1) < 1 ? `, activation budget ${i.activation_budget}` : ""})`,
    `  logits ${gibText(e.logits)} (4096-token chunks x ${i.vocab} vocabulary)`,
    "  not counted: the CUDA context (~0.5 GiB) and the allocator's slack (the formula: src/generative/memory.ts)",
  ].join("\n");
}
