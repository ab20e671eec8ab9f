// Task name -> plug-in. Adding a task: a folder beside this file with an index.ts whose default
// export is its TaskPlugin (see docs/architecture.md, "How to add a task"), its name in names.ts,
// and one line here.
import { resolveWith, type MachineProbe, type ResolvedConfig } from "../config/resolve.js";
import { storedConfig } from "../config/resolved.js";
import type { LoadedConfig } from "../config/load.js";
import type { ModelInfo } from "../models/catalog.js";
import type { TaskPlugin } from "../run/types.js";
import type { RunRecord } from "../store/store.js";
import { HoneError } from "../util/errors.js";
import classify from "./classify/index.js";
import dpo from "./dpo/index.js";
import extractive_qa from "./extractive_qa/index.js";
import grpo from "./grpo/index.js";
import hierarchical from "./hierarchical/index.js";
import type { TaskName } from "./names.js";
import reward from "./reward/index.js";
import sft from "./sft/index.js";
import token_classify from "./token_classify/index.js";

/** Each plug-in is typed with its own plan, files and metrics; the lifecycle passes each back
 * only what the same plug-in made, so here they are held by their common shape. */
// biome-ignore lint/suspicious/noExplicitAny: a registry of plug-ins with different type parameters
type AnyTask = TaskPlugin<any, any, any>;

export const TASKS: Record<TaskName, AnyTask> = { classify, hierarchical, token_classify, extractive_qa, sft, dpo, reward, grpo };

export function taskPlugin(name: string): TaskPlugin {
  const t = (TASKS as Record<string, AnyTask>)[name];
  if (!t)
    throw new HoneError("usage", `unknown task "${name}"`, [
      { message: `tasks: ${Object.keys(TASKS).join(", ")}`, hint: "a run made by a newer Hone? upgrade Hone" },
    ]);
  return t;
}

/** The complete config of a run: `resolveWith` and the hooks of the config's task. */
export function resolveConfig(loaded: LoadedConfig, machine: MachineProbe, model?: ModelInfo): ResolvedConfig {
  return resolveWith(taskPlugin(loaded.config.task).config, loaded, machine, model);
}

/** A stored run's task, and the run with its resolved config brought to today's shape. */
export function openRun(found: RunRecord): { task: TaskPlugin; run: RunRecord; cfg: ResolvedConfig } {
  const task = taskPlugin(found.task);
  const stored = found.config as Record<string, unknown>;
  const cfg = storedConfig(found.id, task.upgradeConfig?.(stored) ?? stored);
  return { task, run: { ...found, config: cfg }, cfg };
}
