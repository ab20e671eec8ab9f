// The SDK of trained generative runs: generate answers, merge an adapter into its base model.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { ResolvedConfig } from "../config/resolve.js";
import { isGenerative } from "../config/resolve.js";
import { runEngine } from "../engine/process.js";
import type { EventOf } from "../protocol/schema.js";
import { runPaths } from "../run/artifacts.js";
import { RunStore, storeDir, type RunRecord } from "../store/store.js";
import { HoneError } from "../util/errors.js";
import type { Turns } from "./data.js";
import { architectureOf, generateTexts, scoreSplit, trainedModelSpec, type GenerateSettings, type LmPlan } from "./train.js";
import { readLmSource } from "./data.js";
import { lmEncoder } from "./dataset.js";
import type { LmMetrics } from "./metrics.js";
import { writeLmShard } from "../tokenize/shards.js";

export interface GeneratedText {
  text: string;
  /** The model ended its answer (false: cut at max_new_tokens). */
  stopped: boolean;
}

interface FinishedLmRun {
  run: RunRecord;
  cfg: ResolvedConfig;
  plan: LmPlan;
  modelDir: string;
}

export function openLmRun(store: RunStore, ref: string): FinishedLmRun {
  const run = store.findRun(ref);
  if (!isGenerative(run.task as ResolvedConfig["task"])) {
    throw new HoneError("usage", `run ${run.id} is a ${run.task} run`, [{ message: "generate and merge need a generative run (task sft, dpo or reward)", hint: "use hone predict for classifiers" }]);
  }
  const modelDir = runPaths(run.run_dir).model;
  if (run.status !== "completed" || !existsSync(join(modelDir, "hone.json"))) {
    throw new HoneError("usage", `run ${run.id} has no final model (status: ${run.status})`, [{ message: "training did not complete", hint: `continue it with: hone train --resume ${run.id}` }]);
  }
  return { run, cfg: run.config as ResolvedConfig, plan: run.plan as LmPlan, modelDir };
}

/** A reward model scores answers (hone eval); it has no language-model head to generate with. */
export function needGenerator(r: FinishedLmRun): FinishedLmRun {
  if (r.cfg.task === "reward") {
    throw new HoneError("usage", `run ${r.run.id} is a reward model`, [{ message: "it scores answers, it does not write them", hint: `score preference pairs with: hone eval ${r.run.id} --data pairs.jsonl` }]);
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
      const asText = architectureOf(r.cfg) === "seq2seq" ? prompts.map((p) => (typeof p !== "string" && p.length === 1 && p[0]!.role === "user" ? p[0]!.content : p)) : prompts;
      const g = await generateTexts(r.cfg, r.plan, r.modelDir, asText, work, opts);
      return g.texts.map((text, i) => ({ text, stopped: g.stopped[i]! }));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  } finally {
    store.close();
  }
}

/** Metrics of a generative run: its test split (computed once after training), or a data file of
 * the run's format (loss and perplexity, or DPO rewards against the base model). */
export async function evaluateLm(store: RunStore, ref: string, data?: string): Promise<{ run: RunRecord; metrics: LmMetrics; source: string }> {
  const r = openLmRun(store, ref);
  if (!data) {
    const file = join(runPaths(r.run.run_dir).report, "metrics.test.json");
    if (!existsSync(file)) throw new HoneError("usage", `run ${r.run.id} has no test split`, [{ message: "its data had no test file and split.test was 0", hint: "evaluate on a file: hone eval RUN --data test.jsonl" }]);
    return { run: r.run, metrics: JSON.parse(readFileSync(file, "utf8")), source: "test split (evaluated once, after training)" };
  }
  const examples = readLmSource({ path: resolve(data), format: "auto", text: r.cfg.data.train.text, dataFormat: r.plan.format, requireAssistant: true });
  const { sequences } = await lmEncoder(r.cfg, r.modelDir).encode(examples);
  const work = mkdtempSync(join(tmpdir(), "hone-eval-"));
  try {
    const shard = writeLmShard(work, "eval", sequences.flat(), null);
    return { run: r.run, metrics: await scoreSplit(r.cfg, r.plan, r.run, shard, work), source: data };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Fold a run's LoRA / DoRA adapter into the base model: a plain model directory (weights,
 * config, tokenizer, chat template) that any Hugging Face tool, or another Hone run, can load. */
export async function merge(ref: string, opts: { store?: string; out?: string; dtype?: "fp32" | "bf16" } = {}): Promise<{ path: string; bytes: number }> {
  const store = new RunStore(storeDir(opts.store));
  try {
    const r = openLmRun(store, ref);
    if (r.cfg.lm!.adapter.method === "none") {
      throw new HoneError("usage", `run ${r.run.id} trained all weights: there is no adapter to merge`, [{ message: `its model is already complete: ${r.modelDir}`, hint: "use that directory as it is" }]);
    }
    const out = resolve(opts.out ?? join(r.run.run_dir, "merged"));
    if (existsSync(out)) throw new HoneError("usage", `${out} exists`, [{ message: "merge writes a new directory", hint: "remove it, or give --out another path" }]);
    const result = await runEngine({ kind: "lm.merge", protocol_version: 1, model: trainedModelSpec(r.cfg, r.modelDir, r.plan.pad_token_id), output: out, dtype: opts.dtype ?? "fp32" });
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
