// A Hone reward run (task reward) as GRPO's reward: each (prompt, answer) rendered with that run's
// template and tokenizer, scored by its model in the engine (lm.score, one number per sequence).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { storedConfig } from "../../config/resolved.js";
import type { Turns } from "../../generative/data.js";
import { lmEncoder } from "../../generative/dataset.js";
import { finishedLmRun, trainedModelSpec } from "../../generative/pipeline.js";
import { runEngine } from "../../engine/process.js";
import { runtimeSpec } from "../../predict/logits.js";
import type { EventOf } from "../../protocol/schema.js";
import { PROTOCOL_VERSION } from "../../protocol/schema.js";
import type { RunStore } from "../../store/store.js";
import { readLogits, writeLmShard } from "../../tokenize/shards.js";
import { HoneError } from "../../util/errors.js";

export const RUN_PREFIX = "run:";

/** The finished reward run a `grpo.reward: run:<id or name>` names, or a config error. */
export function rewardRun(store: RunStore, ref: string) {
  const id = ref.slice(RUN_PREFIX.length);
  let found: ReturnType<RunStore["findRun"]>;
  try {
    found = store.findRun(id);
  } catch {
    throw new HoneError("config", `no run ${id} in the store`, [{ path: ["grpo", "reward"], message: `${ref} names no run`, hint: "hone runs lists them" }]);
  }
  if (found.task !== "reward")
    throw new HoneError("config", `run ${found.id} is a ${found.task} run`, [
      { path: ["grpo", "reward"], message: "a reward run scores answers (task: reward)", hint: "train one with task: reward on preference pairs" },
    ]);
  return finishedLmRun(found, storedConfig(found.id, found.config));
}

/** Rewards of (prompt, answer) pairs from a reward run's model; `work`: where the shard goes. */
export async function scoreWithRun(
  store: RunStore,
  ref: string,
  items: { prompt: Turns; completion: string; origin: string }[],
  work: string,
): Promise<number[]> {
  const { cfg, plan, modelDir } = rewardRun(store, ref);
  const encoder = lmEncoder(cfg, modelDir);
  const examples = items.map((x) =>
    typeof x.prompt === "string"
      ? { format: "prompt_completion" as const, prompt: x.prompt, completion: x.completion, origin: x.origin }
      : { format: "prompt_completion" as const, prompt: x.prompt, completion: [{ role: "assistant" as const, content: x.completion }], origin: x.origin },
  );
  const { sequences } = await encoder.encode(examples);
  if (sequences.some((s) => s.length !== 1))
    throw new HoneError("data", "an answer could not be scored", [
      { message: "it does not fit the reward model's max_length", hint: "lower grpo.max_new_tokens" },
    ]);
  mkdirSync(work, { recursive: true });
  const shard = writeLmShard(work, "scored", sequences.flat(), null);
  const r = await runEngine({
    kind: "lm.score",
    protocol_version: PROTOCOL_VERSION,
    model: trainedModelSpec(cfg, modelDir, plan.pad_token_id),
    data: shard,
    pairs: false,
    output_dir: join(work, "rewards"),
    batch_size: cfg.train.eval_batch_size,
    runtime: runtimeSpec(cfg),
  });
  const ev = r.events.find((e): e is EventOf<"predictions"> => e.type === "predictions")!;
  return readLogits(ev.logits.reward!, ev.count, 1).map((x) => x[0]!);
}
