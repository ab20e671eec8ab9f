// `hone predict` for token runs: the words of each text, their tags decoded under the scheme,
// and the entities as character spans of the original text (with the intent, for joint runs).
import { storedConfig } from "../config/resolved.js";
import { runPaths } from "../run/artifacts.js";
import type { RunRecord, RunStore } from "../store/store.js";
import { textWords, type TokenExample } from "./formats.js";
import { decodeExample, entitySpans, type EntityOut, transitionsCache } from "./model.js";
import { predictExamples } from "./encode.js";

export interface TokenPrediction {
  entities: EntityOut[];
  /** Joint intent + slot runs: the sentence's intent and its probability. */
  intent?: { label: string; score: number };
}

/** Texts as a token model reads them: words split as the training data's span texts were. */
export function asExamples(texts: string[]): TokenExample[] {
  return texts.map((text, i) => ({ text, words: textWords(text), entities: [], tags: null, intent: null, origin: `input:${i + 1}` }));
}

export async function predictTokens(_store: RunStore, run: RunRecord, texts: string[]): Promise<TokenPrediction[]> {
  if (texts.length === 0) return [];
  const cfg = storedConfig(run.id, run.config);
  const examples = asExamples(texts);
  const p = await predictExamples(cfg, runPaths(run.run_dir).model, examples, false);
  const cache = transitionsCache(p.m);
  return examples.map((e, i) => {
    const d = decodeExample(p.m, p.tagRows, p.gold.rows[i]!, p.intentRows?.[i] ?? null, cache);
    const out: TokenPrediction = { entities: entitySpans(e, d.entities, d.words) };
    if (d.intent !== null) out.intent = { label: d.intent, score: d.intentScore! };
    return out;
  });
}
