// From the resolved config to encoded splits of a generative task: read and check the files, hold
// out what has no file, render templates and loss masks, tokenize. Shared by `hone train` and
// `hone data inspect`.
import { rowFormat } from "../data/load.js";
import type { ResolvedConfig } from "../config/resolve.js";
import { splitExamples } from "../data/split.js";
import { resolve } from "node:path";
import { HoneError } from "../util/errors.js";
import { BUILTIN_TEMPLATES, ChatTemplate, modelTemplate, readSpecialTokens, templateFromConfig, type TemplateSource } from "./chat-template.js";
import { commonFormat, readLmSource, type LmExample, type LmFormat } from "./data.js";
import { LmEncoder, type EncodedSequence } from "./encode.js";

export type Split = "train" | "validation" | "test";
export const SPLITS: readonly Split[] = ["train", "validation", "test"];

function templateSource(cfg: ResolvedConfig): TemplateSource | null {
  const t = cfg.lm!.chat_template;
  if (t === null) return modelTemplate(cfg.model.dir);
  if (t.startsWith("builtin:")) return { text: BUILTIN_TEMPLATES[t.slice(8)]!, origin: t };
  return templateFromConfig(t, "/");
}

/** The tokenizer + template of the configured model, or of a run's model folder (which carries its own). */
export function lmEncoder(cfg: ResolvedConfig, modelDir = cfg.model.dir): LmEncoder {
  const specials = readSpecialTokens(modelDir);
  const source = modelDir === cfg.model.dir ? templateSource(cfg) : modelTemplate(modelDir);
  const template = source ? new ChatTemplate(source, specials) : null;
  return new LmEncoder(modelDir, template, specials.eos, cfg.data.max_length, cfg.lm!.loss_on, cfg.lm!.architecture === "seq2seq");
}

function readSplit(cfg: ResolvedConfig, split: Split): LmExample[] {
  const src = cfg.data[split];
  if (!src) return [];
  return readLmSource({
    path: src.path,
    format: rowFormat(src),
    pointer: src.pointer ?? undefined,
    text: src.text,
    dataFormat: cfg.lm!.format,
    requireAssistant: true,
  });
}

/** A labelled file in a finished run's data format (`hone eval --data`). */
export function readLmExamples(path: string, cfg: ResolvedConfig, format: LmFormat): LmExample[] {
  return readLmSource({ path: resolve(path), format: "auto", text: cfg.data.train!.text, dataFormat: format, requireAssistant: true });
}

export interface LmDataset {
  format: LmFormat;
  examples: Record<Split, LmExample[]>;
  /** Per example: its sequences (two for a preference pair); empty = dropped. */
  encoded: Record<Split, EncodedSequence[][]>;
  origin: Record<"validation" | "test", "file" | "split" | "none">;
  encoder: LmEncoder;
  truncated: number;
  dropped: number;
}

/** `checkFormat`: the task's word on the format the files hold (throws when it cannot learn from it);
 * `prepare`: what the task makes of each split's examples before they are encoded (KTO splits pairs). */
export async function loadLmDataset(
  cfg: ResolvedConfig,
  checkFormat: (format: LmFormat, origin: string) => void,
  warn: (text: string) => void = () => {},
  phase: (text: string) => void = () => {},
  prepare: (examples: LmExample[]) => LmExample[] = (e) => e,
): Promise<LmDataset> {
  const read = { train: readSplit(cfg, "train"), validation: readSplit(cfg, "validation"), test: readSplit(cfg, "test") };
  const format = commonFormat(SPLITS.filter((s) => read[s].length > 0).map((s) => ({ examples: read[s], shown: cfg.data[s]!.path })));
  checkFormat(format, read.train[0]!.origin);
  // Splits without a file of their own are held out of train (seeded).
  const fractions = { validation: cfg.data.validation ? 0 : cfg.data.split.validation, test: cfg.data.test ? 0 : cfg.data.split.test };
  const held = splitExamples(read.train, fractions, cfg.data.split.seed, false);
  const examples = {
    train: prepare(held.train),
    validation: prepare(cfg.data.validation ? read.validation : held.validation),
    test: prepare(cfg.data.test ? read.test : held.test),
  };
  const origin = (s: "validation" | "test") => (cfg.data[s] ? "file" : examples[s].length > 0 ? "split" : "none") as "file" | "split" | "none";

  phase(`tokenizing ${examples.train.length + examples.validation.length + examples.test.length} examples`);
  const encoder = lmEncoder(cfg);
  const encoded = {} as Record<Split, EncodedSequence[][]>;
  let truncated = 0;
  let dropped = 0;
  for (const split of SPLITS) {
    const { sequences, stats } = await encoder.encode(examples[split]);
    encoded[split] = sequences;
    truncated += stats.truncated;
    dropped += stats.dropped.length;
    if (stats.dropped.length > 0) warn(`${stats.dropped.length} ${split} example(s) dropped: ${stats.dropped[0]!.reason} (e.g. ${stats.dropped[0]!.origin})`);
    if (stats.skippedTurns > 0) warn(`${stats.skippedTurns} earlier assistant turn(s) in ${split} carry no loss: the chat template rewrites earlier turns`);
  }
  if (truncated > 0) warn(`${truncated} sequence(s) longer than max_length ${cfg.data.max_length} were truncated`);
  // Dropped examples go, from the examples too, so that examples[i] is encoded[i] everywhere.
  for (const split of SPLITS) {
    const keep = encoded[split].map((s) => s.length > 0);
    examples[split] = examples[split].filter((_, i) => keep[i]);
    encoded[split] = encoded[split].filter((_, i) => keep[i]);
  }
  if (encoded.train.length === 0)
    throw new HoneError("data", "no training examples left", [{ message: "every example was dropped", hint: "raise data.max_length" }]);
  return { format, examples, encoded, origin: { validation: origin("validation"), test: origin("test") }, encoder, truncated, dropped };
}
