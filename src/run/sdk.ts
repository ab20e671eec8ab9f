// The SDK's view of finished runs, whatever their task.
import { RunStore, storeDir, type RunRecord } from "../store/store.js";
import { openRun } from "../tasks/registry.js";
import type { EvaluateOptions, TaskMetrics } from "./types.js";

/** Test metrics of a run (computed once after training), or its metrics on a labelled file. */
export async function evaluate(
  ref: string,
  opts: EvaluateOptions & { store?: string } = {},
): Promise<{ run: RunRecord; metrics: TaskMetrics; source: string }> {
  const store = new RunStore(storeDir(opts.store));
  try {
    const { task, run } = openRun(store.findRun(ref));
    const r = await task.evaluate(store, run, opts);
    return { run, ...r };
  } finally {
    store.close();
  }
}
