// The SDK of trained generative runs: generate answers, merge an adapter into its base model.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { runEngine } from "../engine/process.js";
import type { EventOf } from "../protocol/schema.js";
import { PROTOCOL_VERSION } from "../protocol/schema.js";
import { RunStore, storeDir } from "../store/store.js";
import { HoneError } from "../util/errors.js";
import type { Turns } from "./data.js";
import { architectureOf, finishedLmRun, generateTexts, trainedModelSpec, type FinishedLmRun, type GenerateSettings } from "./pipeline.js";
import { openRun } from "../tasks/registry.js";
import type { TaskPlugin } from "../run/types.js";

export interface GeneratedText {
  text: string;
  /** The model ended its answer (false: cut at max_new_tokens). */
  stopped: boolean;
}

/** A finished generative run, with its task's plug-in. */
export function openLmRun(store: RunStore, ref: string): FinishedLmRun & { task: TaskPlugin } {
  const { task, run, cfg } = openRun(store.findRun(ref));
  if (task.config.model !== "generator") {
    throw new HoneError("usage", `run ${run.id} is a ${run.task} run`, [
      { message: "generate and merge need a generative run (task sft, dpo or reward)", hint: "use hone predict for classifiers" },
    ]);
  }
  return { ...finishedLmRun(run, cfg), task };
}

/** A model that scores answers (a reward model) has no language-model head to generate with. */
export function needGenerator<R extends FinishedLmRun & { task: TaskPlugin }>(r: R): R {
  if (!r.task.generates) {
    throw new HoneError("usage", `run ${r.run.id} is a ${r.run.task} model`, [
      { message: "it scores answers, it does not write them", hint: `score preference pairs with: hone eval ${r.run.id} --data pairs.jsonl` },
    ]);
  }
  return r;
}

/** Answers of a trained run to prompts: text (used as is) or messages (rendered with the run's chat template). */
export async function generate(ref: string, prompts: Turns[], opts: GenerateSettings & { store?: string } = {}): Promise<GeneratedText[]> {
  const store = new RunStore(storeDir(opts.store));
  try {
    const r = needGenerator(openLmRun(store, ref));
    const work = mkdtempSync(join(tmpdir(), "hone-generate-"));
    try {
      // An encoder-decoder reads text: a lone user message is its text (what `--prompt` sends).
      const asText =
        architectureOf(r.cfg) === "seq2seq"
          ? prompts.map((p) => (typeof p !== "string" && p.length === 1 && p[0]!.role === "user" ? p[0]!.content : p))
          : prompts;
      const g = await generateTexts(r.cfg, r.plan, r.modelDir, asText, work, opts);
      return g.texts.map((text, i) => ({ text, stopped: g.stopped[i]! }));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  } finally {
    store.close();
  }
}

/** Fold a run's LoRA / DoRA adapter into the base model: a plain model directory (weights,
 * config, tokenizer, chat template) that any Hugging Face tool, or another Hone run, can load. */
export async function merge(ref: string, opts: { store?: string; out?: string; dtype?: "fp32" | "bf16" } = {}): Promise<{ path: string; bytes: number }> {
  const store = new RunStore(storeDir(opts.store));
  try {
    const r = openLmRun(store, ref);
    if (r.cfg.lm!.adapter.method === "none") {
      throw new HoneError("usage", `run ${r.run.id} trained all weights: there is no adapter to merge`, [
        { message: `its model is already complete: ${r.modelDir}`, hint: "use that directory as it is" },
      ]);
    }
    const out = resolve(opts.out ?? join(r.run.run_dir, "merged"));
    if (existsSync(out))
      throw new HoneError("usage", `${out} exists`, [{ message: "merge writes a new directory", hint: "remove it, or give --out another path" }]);
    const result = await runEngine({
      kind: "lm.merge",
      protocol_version: PROTOCOL_VERSION,
      model: trainedModelSpec(r.cfg, r.modelDir, r.plan.pad_token_id),
      output: out,
      dtype: opts.dtype ?? "fp32",
    });
    const ev = result.events.find((e): e is EventOf<"model_written"> => e.type === "model_written")!;
    for (const f of readdirSync(r.modelDir)) {
      if (/^(tokenizer|special_tokens_map|chat_template)/.test(f)) copyFileSync(join(r.modelDir, f), join(out, f));
    }
    await store.addArtifact(r.run.id, "merged", join(out, "config.json"));
    return { path: out, bytes: ev.bytes };
  } finally {
    store.close();
  }
}
