// Memory and throughput of a run, whatever its task: the series the lifecycle logs from the
// engine's progress events, and their summary in the report (resources.json) and `hone runs show`.
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
}

export function resourcesOf(points: MetricPoint[]): Resources | null {
  const train = points.filter((p) => p.split === "train");
  if (!train.length) return null;
  const values = (name: string) => train.filter((p) => p.name === name && p.value !== null).map((p) => p.value);
  const max = (name: string) => (values(name).length ? Math.max(...values(name)) : null);
  const median = (name: string) => {
    const v = values(name).sort((a, b) => a - b);
    return v.length ? v[Math.floor(v.length / 2)]! : null;
  };
  return {
    peak_gpu_allocated_gib: max("peak_gpu_allocated_gib"),
    peak_gpu_reserved_gib: max("peak_gpu_reserved_gib"),
    peak_rss_gib: max("peak_rss_gib"),
    tokens_per_s: median("tokens_per_s"),
    samples_per_s: median("samples_per_s"),
  };
}

export function renderResources(r: Resources): string {
  const gib = (v: number | null) => (v === null ? "-" : `${v.toFixed(2)} GiB`);
  const parts = [
    r.peak_gpu_allocated_gib !== null ? `peak GPU memory ${gib(r.peak_gpu_allocated_gib)} allocated, ${gib(r.peak_gpu_reserved_gib)} reserved` : null,
    r.peak_rss_gib !== null ? `peak process memory (RSS) ${gib(r.peak_rss_gib)}` : null,
    r.tokens_per_s !== null ? `${Math.round(r.tokens_per_s).toLocaleString("en-US")} tokens/s` : null,
    r.samples_per_s !== null ? `${r.samples_per_s.toFixed(1)} samples/s` : null,
  ];
  return parts.filter(Boolean).join("; ");
}
