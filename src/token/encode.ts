// Token data to the engine and back: shards with a tag on each word's first piece, and logits
// decoded into entities and scored against the truth.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ResolvedConfig } from "../config/resolve.js";
import { predictShard } from "../predict/logits.js";
import type { TokenShard } from "../protocol/schema.js";
import { readLogits, writeShard } from "../tokenize/shards.js";
import { WordAligner } from "./align.js";
import type { TokenExample } from "./formats.js";
import { tokenMetrics, type Guess, type TokenMetrics } from "./metrics.js";
import { decodeExample, INTENT_HEAD, readTokenModel, TAG_HEAD, tokenHeads, transitionsCache, type TokenModel, type WordRows } from "./model.js";
import { toTags } from "./tags.js";

/** The truth of an evaluated split, and where each word's first piece is in the shard's rows. */
export interface SplitGold {
  rows: WordRows[];
  examples: { entities: TokenExample["entities"]; intent: string | null; words: number }[];
}

/** Shard a split: ids, the tag of each word's first piece, the intent; and where the words are. */
export async function encodeSplit(
  m: TokenModel,
  aligner: WordAligner,
  examples: TokenExample[],
  dir: string,
  split: string,
  labelled: boolean,
): Promise<{ shard: TokenShard; gold: SplitGold; cut: number; unread: { origin: string; word: string }[] }> {
  const aligned = await aligner.align(examples);
  const tagIndex = new Map(m.tags.map((t, i) => [t, i]));
  const rows: WordRows[] = [];
  let at = 0;
  let cut = 0;
  const unread: { origin: string; word: string }[] = [];
  const targets = aligned.map((a, i) => {
    const e = examples[i]!;
    const tags = toTags(e.entities, e.words.length, m.scheme);
    const t = new Int32Array(a.ids.length).fill(-1);
    a.firstPiece.forEach((p, w) => {
      if (p >= 0 && labelled) t[p] = tagIndex.get(tags[w]!) ?? 0; // a type never seen in train: O
    });
    // Words without a piece: cut off by max_length (at the end), or read as nothing by the tokenizer.
    if (a.ids.length >= aligner.maxLength && a.firstPiece.at(-1)! < 0) cut++;
    else
      a.firstPiece.forEach((p, w) => {
        if (p < 0) unread.push({ origin: e.origin, word: [...e.text].slice(e.words[w]![0], e.words[w]![1]).join("") });
      });
    rows.push(Array.from(a.firstPiece, (p) => (p < 0 ? -1 : at + p)));
    at += a.ids.length;
    return t;
  });
  const heads = labelled
    ? [
        { name: TAG_HEAD, numLabels: m.tags.length, multiLabel: false, targets: [], tokenTargets: targets },
        ...(m.intents
          ? [
              {
                name: INTENT_HEAD,
                numLabels: m.intents.length,
                multiLabel: false,
                targets: examples.map((e) => [Math.max(-1, m.intents!.indexOf(e.intent ?? ""))]),
              },
            ]
          : []),
      ]
    : [];
  const shard = writeShard(
    dir,
    split,
    aligned.map((a) => a.ids),
    heads,
  );
  return { shard, gold: { rows, examples: examples.map((e) => ({ entities: e.entities, intent: e.intent, words: e.words.length })) }, cut, unread };
}

/** Decode a split's logits and score it against its truth. */
export function scoreSplit(
  m: TokenModel,
  gold: SplitGold,
  tagRows: Float32Array[],
  intentRows: Float32Array[] | null,
  loss: number | null,
): { metrics: TokenMetrics; guesses: Guess[] } {
  const cache = transitionsCache(m);
  const guesses = gold.rows.map((rows, i) => decodeExample(m, tagRows, rows, intentRows?.[i] ?? null, cache));
  const truth = gold.examples.map((e) => ({ entities: e.entities, tags: toTags(e.entities, e.words, m.scheme), intent: e.intent }));
  return { metrics: tokenMetrics(truth, guesses, loss), guesses };
}

function tokenCount(shard: TokenShard): number {
  return statSync(shard.tokens).size / 4;
}

export function logitsOf(m: TokenModel, files: Record<string, string>, shard: TokenShard) {
  return {
    tags: readLogits(files[TAG_HEAD]!, tokenCount(shard), m.tags.length),
    intents: m.intents ? readLogits(files[INTENT_HEAD]!, shard.count, m.intents.length) : null,
  };
}

/** Predict a labelled or unlabelled set of examples with a trained run's model. */
export async function predictExamples(cfg: ResolvedConfig, modelDir: string, examples: TokenExample[], labelled: boolean) {
  const m = readTokenModel(modelDir);
  const work = mkdtempSync(join(tmpdir(), "hone-token-"));
  try {
    const { shard, gold } = await encodeSplit(m, new WordAligner(modelDir, m.max_length), examples, join(work, "data"), "input", labelled);
    const heads = { heads: tokenHeads(m, cfg.token!.intent_weight) };
    const out = await predictShard({ cfg, plan: heads, modelDir, weights: join(modelDir, "model.safetensors"), shard, outDir: join(work, "out") });
    const tagRows = out.logits[TAG_HEAD]!;
    const intentRows = out.logits[INTENT_HEAD] ?? null;
    return { m, gold, tagRows, intentRows, samplesPerSecond: out.samplesPerSecond };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
