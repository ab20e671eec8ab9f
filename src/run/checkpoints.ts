// The engine's folders of a run: checkpoints/step-NNNNNN and evals/step-NNNNNN, and the
// temporary folders a write in progress leaves when its process dies.
import { copyFileSync, existsSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { STEP_DIGITS, STEP_PREFIX, TEMP_PREFIX } from "../protocol/schema.js";
import type { RunStore } from "../store/store.js";
import { tempSibling } from "../util/fs.js";

/** Name of a step's folder, the engine's layout for checkpoints and evaluation logits alike. */
export const stepName = (step: number) => `${STEP_PREFIX}${String(step).padStart(STEP_DIGITS, "0")}`;
export const stepDir = (dir: string, step: number) => join(dir, stepName(step));
const STEP_FOLDER = new RegExp(`^${STEP_PREFIX}(\\d{${STEP_DIGITS},})$`);

/** Steps of complete checkpoints on disk, ascending. */
export function checkpointSteps(dir: string): number[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((d) => STEP_FOLDER.exec(d))
    .filter((m): m is RegExpExecArray => m !== null && existsSync(join(dir, m[0], "state.json")))
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** Steps with an evaluation folder, ascending. */
export function evalSteps(dir: string): number[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((d) => STEP_FOLDER.exec(d))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** Remove what interrupted writes left behind (the engine's `.tmp-step-*` folders, our
 * `.<name>.tmp-*` files); only called while the run's lock is held, so no writer is alive. */
export function removeTemporaries(dirs: string[]): string[] {
  const removed: string[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      if (f.startsWith(TEMP_PREFIX) || /^\..+\.tmp(-|$)/.test(f)) {
        rmSync(join(dir, f), { recursive: true, force: true });
        removed.push(join(dir, f));
      }
    }
  }
  return removed;
}

/** An encoder run's final weights: the best checkpoint's model.safetensors copied into the model
 * folder (temp file, then rename) and recorded as the run's model. Returns its path. */
export async function promoteBestWeights(store: RunStore, runId: string, paths: { checkpoints: string; model: string }, bestStep: number): Promise<string> {
  const weights = join(paths.model, "model.safetensors");
  const tmp = tempSibling(weights);
  copyFileSync(join(stepDir(paths.checkpoints, bestStep), "model.safetensors"), tmp);
  renameSync(tmp, weights);
  await store.addArtifact(runId, "model", weights);
  return weights;
}

/** Bytes of an encoder run's final weights (0 before it has any). */
export function weightsBytes(modelDir: string): number {
  const w = join(modelDir, "model.safetensors");
  return existsSync(w) ? statSync(w).size : 0;
}
