// Token-level data in the common layouts, read into one shape: a text, its words (character
// ranges) and its entities over words (plus an intent for joint intent + slot data).
//   conll: "token<TAB or space>...<tag>" per line, a blank line between sentences, -DOCSTART- skipped
//   seq:   a folder with seq.in (words), seq.out (tags) and optionally label (intents), line by line
//   jsonl / json: {"tokens": [...], "tags": [...]} or {"text": "...", "spans": [{start, end, label}]}
// Offsets count Unicode code points (Python's str indexing, what span data is written with).
import { existsSync, readdirSync, statSync } from "node:fs";
import { extname, join, relative } from "node:path";
import { Collector, field, readRows, readUtf8, rowKeys } from "../data/load.js";
import { HoneError, type Issue } from "../util/errors.js";
import { closest, codePointIndex } from "../util/text.js";
import { entities, type Entity, parseTag } from "./tags.js";

export interface TokenExample {
  text: string;
  /** Code-point ranges [start, end) of the words. */
  words: [number, number][];
  entities: Entity[];
  /** The tags as written in the file (tag data), for the data doctor; null for span data. */
  tags: string[] | null;
  /** Joint intent + slot data: the sentence's intent. */
  intent: string | null;
  origin: string;
}

export type TokenFormat = "conll" | "seq" | "jsonl" | "json";

export interface TokenSource {
  path: string;
  format: "auto" | TokenFormat | "csv" | "tsv";
  pointer: string | null;
  fields: { tokens: string; tags: string; text: string; spans: string; intent: string };
  /** false for prediction inputs. */
  requireLabels: boolean;
}

const shown = (p: string) => relative(process.cwd(), p) || p;

/** The layout of a token data path: a folder with seq.in is `seq`; .jsonl / .json by extension;
 * anything else is read as CoNLL columns. */
export function detectTokenFormat(path: string): TokenFormat {
  if (existsSync(path) && statSync(path).isDirectory()) {
    if (existsSync(join(path, "seq.in"))) return "seq";
    throw new HoneError("data", `${shown(path)} is a folder without seq.in`, [
      { file: shown(path), message: `it holds: ${readdirSync(path).slice(0, 8).join(", ")}`, hint: "a seq folder has seq.in, seq.out and label files" },
    ]);
  }
  const ext = extname(path).toLowerCase();
  if (ext === ".jsonl" || ext === ".ndjson") return "jsonl";
  if (ext === ".json") return "json";
  return "conll";
}

/** Words joined by single spaces: the text and each word's code-point range. */
function fromWords(words: string[]): { text: string; words: [number, number][] } {
  const ranges: [number, number][] = [];
  let pos = 0;
  for (const w of words) {
    const n = [...w].length;
    ranges.push([pos, pos + n]);
    pos += n + 1;
  }
  return { text: words.join(" "), words: ranges };
}

/** Check tags (each O or PREFIX-TYPE) and read their entities; problems go to `out`. */
function fromTags(tags: string[], where: Omit<Issue, "message">, out: Collector): Entity[] | null {
  const bad = tags.findIndex((t) => parseTag(t) === null);
  if (bad >= 0) {
    out.add({
      ...where,
      message: `tag ${JSON.stringify(tags[bad])} (word ${bad + 1}) is not O or PREFIX-TYPE`,
      hint: "write tags as O, B-TYPE, I-TYPE (BIO), also E-/S- (BIOES) or only I- (IO)",
    });
    return null;
  }
  return entities(tags);
}

function readConll(path: string, requireLabels: boolean, out: Collector): TokenExample[] {
  const name = shown(path);
  const lines = readUtf8(path, name).split("\n");
  const examples: TokenExample[] = [];
  let words: string[] = [];
  let tags: string[] = [];
  let first = 0;
  const flush = (i: number) => {
    if (words.length > 0) {
      const where = { file: name, line: first + 1 };
      const ents = requireLabels ? fromTags(tags, where, out) : [];
      if (ents) examples.push({ ...fromWords(words), entities: ents, tags: requireLabels ? tags : null, intent: null, origin: `${name}:${first + 1}` });
    }
    words = [];
    tags = [];
    first = i + 1;
  };
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") return flush(i);
    const cols = line.includes("\t") ? line.split("\t") : line.trim().split(/\s+/);
    if (cols[0] === "-DOCSTART-") return flush(i);
    if (words.length === 0) first = i;
    if (requireLabels && cols.length < 2) {
      out.add({
        file: name,
        line: i + 1,
        message: `one column (${JSON.stringify(line.slice(0, 60))}), expected a token and its tag`,
        hint: "write token<TAB>tag",
      });
      return;
    }
    words.push(cols[0]!.trim());
    tags.push(cols.at(-1)!.trim());
  });
  flush(lines.length);
  return examples;
}

function readSeq(dir: string, requireLabels: boolean, out: Collector): TokenExample[] {
  const lines = (f: string) => {
    const p = join(dir, f);
    if (!existsSync(p)) return null;
    const all = readUtf8(p, shown(p)).split("\n");
    if (all.at(-1) === "") all.pop();
    return all;
  };
  const words = lines("seq.in")!;
  const tags = lines("seq.out");
  const intents = lines("label");
  if (requireLabels && !tags)
    throw new HoneError("data", `${shown(dir)} has no seq.out`, [
      { file: shown(dir), message: "the tags of seq.in are missing", hint: "add seq.out: one tag per word" },
    ]);
  for (const [f, l] of [
    ["seq.out", tags],
    ["label", intents],
  ] as const)
    if (l && l.length !== words.length)
      throw new HoneError("data", `${shown(join(dir, f))} has ${l.length} lines, seq.in has ${words.length}`, [
        { file: shown(join(dir, f)), message: "the files must be aligned line by line", hint: "one line per utterance in every file" },
      ]);
  const examples: TokenExample[] = [];
  words.forEach((line, i) => {
    const w = line.trim().split(/\s+/).filter(Boolean);
    const where = { file: shown(join(dir, "seq.out")), line: i + 1 };
    if (w.length === 0)
      return out.add({ file: shown(join(dir, "seq.in")), line: i + 1, message: "an empty utterance", hint: "remove the line from all files" });
    const t = tags?.[i]?.trim().split(/\s+/).filter(Boolean) ?? [];
    if (requireLabels && t.length !== w.length)
      return out.add({ ...where, message: `${t.length} tags for ${w.length} words`, hint: "one tag per word of seq.in" });
    const ents = requireLabels ? fromTags(t, where, out) : [];
    if (ents)
      examples.push({
        ...fromWords(w),
        entities: ents,
        tags: requireLabels ? t : null,
        intent: intents?.[i]?.trim() || null,
        origin: `${shown(join(dir, "seq.in"))}:${i + 1}`,
      });
  });
  return examples;
}

// Words of free text: runs of letters/digits, or single other visible characters (as BERT's
// pre-tokenizer splits punctuation); span edges split words further.
const WORD = /[\p{L}\p{N}\p{M}_]+|[^\s\p{L}\p{N}\p{M}_]/gu;

export function textWords(text: string, cuts: number[] = []): [number, number][] {
  const cpAt = codePointIndex(text);
  const cutSet = [...new Set(cuts)].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const m of text.matchAll(WORD)) {
    let s = cpAt(m.index!);
    const e = cpAt(m.index! + m[0].length);
    for (const c of cutSet)
      if (c > s && c < e) {
        out.push([s, c]);
        s = c;
      }
    out.push([s, e]);
  }
  return out;
}

type Span = { start: number; end: number; label: string };

function spanRow(row: unknown, src: TokenSource, where: Omit<Issue, "message">, origin: string, out: Collector): TokenExample | null {
  const text = field(row, src.fields.text);
  if (typeof text !== "string" || text.length === 0) {
    out.add({
      ...where,
      path: [src.fields.text],
      message: "missing or empty text",
      hint: `expected {"${src.fields.text}": "...", "${src.fields.spans}": [...]}`,
    });
    return null;
  }
  const raw = field(row, src.fields.spans) ?? field(row, "entities");
  const length = [...text].length;
  const spans: Span[] = [];
  if (src.requireLabels) {
    if (!Array.isArray(raw)) {
      out.add({
        ...where,
        path: [src.fields.spans],
        message: "missing spans",
        hint: `a list of {"start": 0, "end": 5, "label": "PER"} (code points, end exclusive); [] for none`,
      });
      return null;
    }
    for (const [k, s] of raw.entries()) {
      const start = field(s, "start");
      const end = field(s, "end");
      const label = field(s, "label") ?? field(s, "type");
      const at = { ...where, path: [src.fields.spans, k] };
      if (!Number.isInteger(start) || !Number.isInteger(end) || typeof label !== "string" || label === "") {
        out.add({ ...at, message: `span ${JSON.stringify(s)} needs integer start, end and a label`, hint: '{"start": 0, "end": 5, "label": "PER"}' });
        return null;
      }
      if ((start as number) < 0 || (end as number) > length || (start as number) >= (end as number)) {
        out.add({
          ...at,
          message: `span [${start}, ${end}) is outside the text (${length} characters) or empty`,
          hint: "offsets count code points from 0; end is exclusive",
        });
        return null;
      }
      if (/^\s|\s$/u.test([...text].slice(start as number, end as number).join("")))
        out.add({
          ...at,
          message: `span [${start}, ${end}) starts or ends with a space`,
          hint: "trim the span to the entity's first and last visible character",
        });
      spans.push({ start: start as number, end: end as number, label });
    }
    spans.sort((a, b) => a.start - b.start);
    for (let k = 1; k < spans.length; k++)
      if (spans[k]!.start < spans[k - 1]!.end) {
        out.add({
          ...where,
          path: [src.fields.spans],
          message: `spans [${spans[k - 1]!.start}, ${spans[k - 1]!.end}) ${spans[k - 1]!.label} and [${spans[k]!.start}, ${spans[k]!.end}) ${spans[k]!.label} overlap`,
          hint: "one entity per character: keep the outer or the inner one",
        });
        return null;
      }
  }
  const words = textWords(
    text,
    spans.flatMap((s) => [s.start, s.end]),
  );
  const ents: Entity[] = [];
  for (const s of spans) {
    const inside = words.flatMap(([a, b], i) => (a >= s.start && b <= s.end ? [i] : []));
    if (inside.length === 0) {
      out.add({
        ...where,
        path: [src.fields.spans],
        message: `span [${s.start}, ${s.end}) covers no word`,
        hint: "a span must cover letters, digits or symbols",
      });
      return null;
    }
    ents.push({ start: inside[0]!, end: inside.at(-1)! + 1, type: s.label });
  }
  return { text, words, entities: ents, tags: null, intent: intentOf(row, src), origin };
}

function intentOf(row: unknown, src: TokenSource): string | null {
  const v = field(row, src.fields.intent);
  return typeof v === "string" && v !== "" ? v : null;
}

function tagRow(row: unknown, src: TokenSource, where: Omit<Issue, "message">, origin: string, out: Collector): TokenExample | null {
  const tokens = field(row, src.fields.tokens);
  if (!Array.isArray(tokens) || tokens.length === 0 || !tokens.every((t) => typeof t === "string" && t.trim() !== "" && !/\s/.test(t))) {
    out.add({
      ...where,
      path: [src.fields.tokens],
      message: "tokens must be a non-empty list of words without spaces",
      hint: '{"tokens": ["John", "lives"], "tags": ["B-PER", "O"]}',
    });
    return null;
  }
  let tags = field(row, src.fields.tags) ?? field(row, "ner_tags");
  if (!src.requireLabels) return { ...fromWords(tokens as string[]), entities: [], tags: null, intent: null, origin };
  if (!Array.isArray(tags) || tags.length !== tokens.length) {
    out.add({
      ...where,
      path: [src.fields.tags],
      message: Array.isArray(tags) ? `${tags.length} tags for ${tokens.length} tokens` : "missing tags",
      hint: "one tag per token",
    });
    return null;
  }
  if (tags.some((t) => typeof t !== "string")) {
    out.add({
      ...where,
      path: [src.fields.tags],
      message: "tags are numbers, not tag names",
      hint: "write the tag names (B-PER, O, ...): class ids need the dataset's label list",
    });
    return null;
  }
  tags = tags as string[];
  const ents = fromTags(tags as string[], where, out);
  return ents && { ...fromWords(tokens as string[]), entities: ents, tags: tags as string[], intent: intentOf(row, src), origin };
}

/** Read one source; every bad row is reported together (file, line, field, a fix). */
export function readTokenSource(src: TokenSource): TokenExample[] {
  if (!existsSync(src.path))
    throw new HoneError("data", `data file not found: ${shown(src.path)}`, [
      { file: shown(src.path), message: "no such file or folder", hint: "paths in a config file are relative to that file" },
    ]);
  const format = src.format === "auto" ? detectTokenFormat(src.path) : src.format;
  const out = new Collector();
  let examples: TokenExample[];
  if (format === "conll") examples = readConll(src.path, src.requireLabels, out);
  else if (format === "seq") examples = readSeq(src.path, src.requireLabels, out);
  else if (format === "jsonl" || format === "json") {
    let kind: "tags" | "spans" | null = null;
    examples = readRows({ path: src.path, format, pointer: src.pointer ?? undefined }, (row, where, origin, c) => {
      if (kind === null) {
        const keys = rowKeys(row);
        kind = keys.includes(src.fields.tokens) ? "tags" : keys.includes(src.fields.text) ? "spans" : null;
        if (kind === null) {
          const near = closest(src.fields.tokens, keys) ?? closest(src.fields.text, keys);
          c.add({
            ...where,
            message: `a row has neither "${src.fields.tokens}" nor "${src.fields.text}" (keys: ${keys.join(", ")})`,
            hint: near ? `name the field: token.fields` : '{"tokens": [...], "tags": [...]} or {"text": "...", "spans": [...]}',
          });
          kind = "tags";
          return null;
        }
      }
      return kind === "tags" ? tagRow(row, src, where, origin, c) : spanRow(row, src, where, origin, c);
    });
  } else
    throw new HoneError("data", `token tasks do not read ${format} files`, [
      { file: shown(src.path), message: `format ${format}`, hint: "use CoNLL columns, a seq.in/seq.out folder, or JSONL with tokens + tags or text + spans" },
    ]);
  if (out.issues.length > 0)
    throw new HoneError("data", `${out.issues.length}${out.truncated ? "+" : ""} invalid example(s) in ${shown(src.path)}`, out.issues);
  if (examples.length === 0)
    throw new HoneError("data", `no examples in ${shown(src.path)}`, [{ file: shown(src.path), message: "the file holds no sentences" }]);
  const withIntent = examples.filter((e) => e.intent !== null).length;
  if (src.requireLabels && withIntent > 0 && withIntent < examples.length) {
    const missing = examples.find((e) => e.intent === null)!;
    throw new HoneError("data", `${examples.length - withIntent} of ${examples.length} examples in ${shown(src.path)} have no intent`, [
      {
        file: missing.origin,
        path: [src.fields.intent],
        message: "some examples have an intent and some do not",
        hint: "give every example an intent, or none",
      },
    ]);
  }
  return examples;
}

/** The words of an example as strings. */
export function wordStrings(e: Pick<TokenExample, "text" | "words">): string[] {
  const cps = [...e.text];
  return e.words.map(([s, t]) => cps.slice(s, t).join(""));
}
