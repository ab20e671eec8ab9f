// Helpers every command group shares: output, the run's own metrics rendering, flag shorthands.
import type { TaskMetrics } from "../run/types.js";
import { taskPlugin } from "../tasks/registry.js";

export const out = (s: string): void => void process.stdout.write(`${s}\n`);
export const json = (v: unknown): void => out(JSON.stringify(v, null, 2));

/** Metrics as the run's task renders them. */
export function metricsTable(task: string, m: TaskMetrics, perClass = false): string {
  return taskPlugin(task).renderMetrics(m, perClass);
}

/** --data/--model/... shorthands become the base under a config file and --set. */
export function shorthands(o: Record<string, unknown>): Record<string, unknown> {
  const base: Record<string, unknown> = {};
  const put = (path: string[], v: unknown) => {
    if (v === undefined) return;
    let node = base;
    for (const k of path.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
    node[path.at(-1)!] = v;
  };
  put(["data", "train"], o.data);
  put(["data", "validation"], o.validation);
  put(["data", "test"], o.test);
  put(["data", "text"], o.textColumn);
  put(["data", "label"], o.labelColumn);
  if (o.multiLabel) put(["data", "multi_label"], true);
  put(["model", "path"], o.model);
  put(["model", "init_from"], o.initFrom);
  put(["task"], o.task);
  put(["name"], o.name);
  put(["train", "epochs"], o.epochs === undefined ? undefined : Number(o.epochs));
  put(["train", "lr"], o.lr === undefined ? undefined : Number(o.lr));
  put(["train", "max_steps"], o.maxSteps === undefined ? undefined : Number(o.maxSteps));
  put(["train", "seed"], o.seed === undefined ? undefined : Number(o.seed));
  return base;
}

export function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}
