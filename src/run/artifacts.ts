// The layout of a run directory, in one place.
import { join } from "node:path";

export function runPaths(runDir: string) {
  return {
    config: join(runDir, "config.json"),
    plan: join(runDir, "plan.json"),
    data: join(runDir, "data"),
    checkpoints: join(runDir, "checkpoints"),
    evals: join(runDir, "evals"),
    /** Self-contained final model: encoder config, tokenizer, labels, best weights. */
    model: join(runDir, "model"),
    report: join(runDir, "report"),
    log: join(runDir, "engine.log"),
  };
}
