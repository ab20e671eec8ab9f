// A trained token model as the rest of Hone uses it: model/token.json (scheme, tags, intents,
// decoding), the heads it trains, and decoding logits back into entities with character offsets.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { HeadDef, HeadsFile } from "../classifier/heads.js";
import { softmax } from "../metrics/classification.js";
import { HoneError } from "../util/errors.js";
import type { TokenExample } from "./formats.js";
import type { Guess } from "./metrics.js";
import { type Entity, entities as entitiesOf, type Scheme, parseTag, toTags, transitions, viterbi } from "./tags.js";

/** What model/token.json holds. */
export interface TokenModel {
  version: 1;
  scheme: Scheme;
  /** The tag head's classes. */
  tags: string[];
  /** The intent head's classes, or null without intents. */
  intents: string[] | null;
  decode: "constrained" | "argmax";
  max_length: number;
}

export const TAG_HEAD = "tags";
export const INTENT_HEAD = "intent";

export function tokenHeads(m: TokenModel, intentWeight: number): HeadDef[] {
  const heads: HeadDef[] = [{ name: TAG_HEAD, labels: m.tags, multi_label: false, loss_weight: 1, level: "token" }];
  if (m.intents) heads.push({ name: INTENT_HEAD, labels: m.intents, multi_label: false, loss_weight: intentWeight });
  return heads;
}

/** model/heads.json in the classifier family's shape, so export and the engine read it as theirs. */
export function headsFileOf(m: TokenModel, intentWeight: number): HeadsFile {
  return { version: 1, task: "token_classify", heads: tokenHeads(m, intentWeight), labels: m.tags, hierarchy: null, tasks: [] };
}

export function readTokenModel(modelDir: string): TokenModel {
  const path = join(modelDir, "token.json");
  if (!existsSync(path))
    throw new HoneError("usage", `${modelDir} is not a token model`, [{ file: path, message: "missing", hint: "a token_classify run's model folder" }]);
  return JSON.parse(readFileSync(path, "utf8")) as TokenModel;
}

/** A word's first piece: its row in the token logits, or -1 (cut off by max_length). */
export type WordRows = number[];

export interface DecodedWord {
  tag: string;
  /** Probability of the chosen tag. */
  score: number;
}

/** Tags, entities and intent of one example from its words' logits rows and its intent logits. */
export function decodeExample(
  m: TokenModel,
  tagLogits: Float32Array[],
  rows: WordRows,
  intentLogits: Float32Array | null,
  cache = transitionsCache(m),
): Guess & { words: DecodedWord[]; intentScore: number | null } {
  const present = rows.flatMap((r, w) => (r >= 0 ? [w] : []));
  const logProbs = present.map((w) => Float64Array.from(softmax(tagLogits[rows[w]!]!), (p) => Math.log(p)));
  const chosen = m.decode === "constrained" ? viterbi(logProbs, cache) : logProbs.map((lp) => lp.reduce((best, v, j) => (v > lp[best]! ? j : best), 0));
  const words: DecodedWord[] = rows.map(() => ({ tag: "O", score: 1 }));
  present.forEach((w, k) => (words[w] = { tag: m.tags[chosen[k]!]!, score: Math.exp(logProbs[k]![chosen[k]!]!) }));
  const tags = words.map((w) => w.tag);
  let intent: string | null = null;
  let intentScore: number | null = null;
  if (m.intents && intentLogits) {
    const p = softmax(intentLogits);
    const best = p.reduce((b, v, j) => (v > p[b]! ? j : b), 0);
    intent = m.intents[best]!;
    intentScore = p[best]!;
  }
  return { tags, entities: entitiesOf(tags), words, intent, intentScore };
}

export function transitionsCache(m: TokenModel) {
  return transitions(m.tags, m.scheme);
}

/** The true tags of an example in the model's scheme (for tag accuracy). */
export function truthOf(e: TokenExample, scheme: Scheme) {
  return { entities: e.entities, tags: toTags(e.entities, e.words.length, scheme), intent: e.intent };
}

export interface EntityOut {
  /** Code points [start, end) in the text. */
  start: number;
  end: number;
  label: string;
  text: string;
  /** Mean probability of the entity's word tags. */
  score: number;
}

/** Entities over words as character spans of the original text. */
export function entitySpans(e: Pick<TokenExample, "text" | "words">, ents: Entity[], words: DecodedWord[]): EntityOut[] {
  const cps = [...e.text];
  return ents.map((x) => {
    const start = e.words[x.start]![0];
    const end = e.words[x.end - 1]![1];
    const ws = words.slice(x.start, x.end);
    return { start, end, label: x.type, text: cps.slice(start, end).join(""), score: ws.reduce((s, w) => s + w.score, 0) / ws.length };
  });
}

/** Entity types of a tag set. */
export function typesOf(tags: string[]): string[] {
  return [...new Set(tags.map((t) => parseTag(t)?.type ?? "").filter(Boolean))].sort();
}

export interface TokenPrediction {
  entities: EntityOut[];
  /** Joint intent + slot runs: the sentence's intent and its probability. */
  intent?: { label: string; score: number };
}
