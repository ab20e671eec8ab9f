// `hone predict` for token runs: the words of each text, their tags decoded under the scheme,
// and the entities as character spans of the original text (with the intent, for joint runs).
import { storedConfig } from "../config/resolved.js";
import { runPaths } from "../run/artifacts.js";
import type { RunRecord, RunStore } from "../store/store.js";
import { textWords, type TokenExample } from "./formats.js";
import {
  decodeExample,
  entitySpans,
  type TokenPrediction,
  INTENT_HEAD,
  readTokenModel,
  TAG_HEAD,
  type TokenModel,
  transitionsCache,
  type WordRows,
} from "./model.js";
import { WordAligner } from "./align.js";
import type { TokenShard } from "../protocol/schema.js";
import type { BundleDecoder, BundleGraph } from "../run/types.js";
import { predictExamples } from "./encode.js";

/** Texts as a token model reads them: words split as the training data's span texts were. */
export function asExamples(texts: string[]): TokenExample[] {
  return texts.map((text, i) => ({ text, words: textWords(text), entities: [], tags: null, intent: null, origin: `input:${i + 1}` }));
}

/** Entities (and the intent) of each example from its words' rows of tag logits. */
function toPredictions(
  m: TokenModel,
  examples: TokenExample[],
  tagRows: Float32Array[],
  rows: WordRows[],
  intentRows: Float32Array[] | null,
): TokenPrediction[] {
  const cache = transitionsCache(m);
  return examples.map((e, i) => {
    const d = decodeExample(m, tagRows, rows[i]!, intentRows?.[i] ?? null, cache);
    const out: TokenPrediction = { entities: entitySpans(e, d.entities, d.words) };
    if (d.intent !== null) out.intent = { label: d.intent, score: d.intentScore! };
    return out;
  });
}

export async function predictTokens(_store: RunStore, run: RunRecord, texts: string[]): Promise<TokenPrediction[]> {
  if (texts.length === 0) return [];
  const cfg = storedConfig(run.id, run.config);
  const examples = asExamples(texts);
  const p = await predictExamples(cfg, runPaths(run.run_dir).model, examples, false);
  return toPredictions(p.m, examples, p.tagRows, p.gold.rows, p.intentRows);
}

const aligners = new Map<string, { m: TokenModel; aligner: WordAligner }>();

/** A bundle's logits for examples (words given), numbered as one shard's rows would be. */
export async function bundleLogits(graph: BundleGraph, examples: TokenExample[]) {
  let opened = aligners.get(graph.dir);
  if (!opened) {
    const m = readTokenModel(graph.dir);
    opened = { m, aligner: new WordAligner(graph.dir, m.max_length) };
    aligners.set(graph.dir, opened);
  }
  const { m, aligner } = opened;
  const aligned = await aligner.align(examples);
  const logits = await graph.logitsOfIds(aligned.map((a) => a.ids));
  const L = m.tags.length;
  const tagRows: Float32Array[] = [];
  const rows = aligned.map((a, i) => {
    const base = tagRows.length;
    const flat = logits[TAG_HEAD]![i]!;
    for (let t = 0; t < a.ids.length; t++) tagRows.push(flat.subarray(t * L, (t + 1) * L));
    return Array.from(a.firstPiece, (p) => (p < 0 ? -1 : base + p));
  });
  return { m, tagRows, rows, intentRows: logits[INTENT_HEAD] ?? null };
}

/** ONNX bundles in Node: the same alignment and decoding over the graph's token logits. */
export const tokenBundle: BundleDecoder = {
  files: ["heads.json", "token.json"],
  route: "/v1/entities",
  sample: (files) => {
    const f = files as { shards: Record<string, TokenShard | null> };
    return f.shards.test ?? f.shards.validation ?? f.shards.train ?? null;
  },
  answer: "one prediction per text: entities as code-point spans {start, end, label, text, score}, and the intent for joint intent + slot models",
  async predict(graph, texts) {
    if (texts.length === 0) return [];
    const examples = asExamples(texts);
    const b = await bundleLogits(graph, examples);
    return toPredictions(b.m, examples, b.tagRows, b.rows, b.intentRows);
  },
};
