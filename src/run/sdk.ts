// The SDK's view of finished runs, whatever their task.
import { RunStore, storeDir, type RunRecord } from "../store/store.js";
import { openRun } from "../tasks/registry.js";
import { HoneError } from "../util/errors.js";
import type { EvaluateOptions, TaskMetrics, TaskPrediction } from "./types.js";

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

/** Predictions of a finished run for texts, in its task's shape (labels, or entities with offsets). */
export async function predict(ref: string, texts: string[], opts: { store?: string; topK?: number } = {}): Promise<TaskPrediction[]> {
  const store = new RunStore(storeDir(opts.store));
  try {
    const { task, run } = openRun(store.findRun(ref));
    if (!task.predict)
      throw new HoneError("usage", `run ${run.id} (task ${task.name}) does not predict labels`, [
        { message: "a generative run answers prompts", hint: `use: hone generate ${run.id} --prompt "..."` },
      ]);
    return await task.predict(store, run, texts, { topK: opts.topK ?? 3 });
  } finally {
    store.close();
  }
}
