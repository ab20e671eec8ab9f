// Extractive question answering data: SQuAD JSON (v1.1, and v2.0 with unanswerable questions)
// and JSONL rows {question, context, answers}. Offsets count Unicode code points (Python's str
// indexing, which SQuAD's answer_start uses).
import { existsSync } from "node:fs";
import { extname, relative } from "node:path";
import { Collector, field, readUtf8 } from "../data/load.js";
import { HoneError, type Issue } from "../util/errors.js";

export interface QaAnswer {
  text: string;
  /** Code point where the answer starts in the context. */
  start: number;
}

export interface QaExample {
  id: string;
  question: string;
  context: string;
  /** Gold answers (several annotators); empty for an unanswerable question. */
  answers: QaAnswer[];
  origin: string;
}

const shown = (p: string) => relative(process.cwd(), p) || p;

/** Code points of a string (offsets are in these). */
export const codePoints = (s: string) => Array.from(s);

/** Check one question's answers against its context: each must be found at its offset. */
function checkAnswers(
  cps: string[],
  answers: unknown,
  where: Omit<Issue, "message">,
  out: Collector,
  requireAnswers: boolean,
  impossible: boolean,
): QaAnswer[] | null {
  // HF datasets' form {text: [...], answer_start: [...]} or SQuAD's [{text, answer_start}].
  let list: unknown[] = [];
  if (Array.isArray(answers)) list = answers;
  else if (answers && typeof answers === "object") {
    const t = field(answers, "text");
    const s = field(answers, "answer_start");
    if (Array.isArray(t) && Array.isArray(s)) list = t.map((text, i) => ({ text, answer_start: s[i] }));
  } else if (answers === undefined && !requireAnswers) return [];
  const out2: QaAnswer[] = [];
  for (const [k, a] of list.entries()) {
    const text = field(a, "text");
    const start = field(a, "answer_start") ?? field(a, "start");
    if (typeof text !== "string" || !Number.isInteger(start)) {
      out.add({
        ...where,
        path: ["answers", k],
        message: "an answer needs text and an integer answer_start",
        hint: '{"text": "Denver Broncos", "answer_start": 177}',
      });
      return null;
    }
    const at = start as number;
    const found = cps.slice(at, at + codePoints(text).length).join("");
    if (found !== text) {
      const near = cps.join("").indexOf(text);
      out.add({
        ...where,
        path: ["answers", k],
        message: `answer ${JSON.stringify(text.slice(0, 40))} is not at ${at} (the context has ${JSON.stringify(found.slice(0, 40))} there)`,
        hint:
          near >= 0
            ? `it occurs at ${codePoints(cps.join("").slice(0, near)).length} (offsets count code points)`
            : "the answer must be a substring of the context",
      });
      return null;
    }
    out2.push({ text, start: at });
  }
  if (requireAnswers && out2.length === 0 && !impossible) {
    out.add({ ...where, path: ["answers"], message: "no answer", hint: "give at least one answer, or mark the question is_impossible: true (SQuAD 2.0)" });
    return null;
  }
  return out2;
}

function squad(path: string, requireAnswers: boolean, out: Collector): QaExample[] {
  const name = shown(path);
  let doc: unknown;
  try {
    doc = JSON.parse(readUtf8(path, name));
  } catch (e) {
    if (e instanceof HoneError) throw e;
    throw new HoneError("data", `cannot parse ${name}`, [{ file: name, message: `malformed JSON: ${(e as Error).message}` }]);
  }
  const articles = field(doc, "data");
  if (!Array.isArray(articles))
    throw new HoneError("data", `${name} is not SQuAD JSON`, [
      { file: name, message: 'no top-level "data" list', hint: '{"version": "1.1", "data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}' },
    ]);
  const examples: QaExample[] = [];
  articles.forEach((article, a) => {
    const paragraphs = field(article, "paragraphs");
    if (!Array.isArray(paragraphs)) return out.add({ file: `${name}#/data/${a}`, message: 'no "paragraphs" list' });
    paragraphs.forEach((p, k) => {
      const context = field(p, "context");
      const qas = field(p, "qas");
      const at = `${name}#/data/${a}/paragraphs/${k}`;
      if (typeof context !== "string" || !Array.isArray(qas)) return out.add({ file: at, message: 'a paragraph needs "context" and "qas"' });
      const cps = codePoints(context);
      qas.forEach((qa, q) => {
        const where = { file: `${at}/qas/${q}` };
        const question = field(qa, "question");
        if (typeof question !== "string" || question.trim() === "") return out.add({ ...where, path: ["question"], message: "missing or empty question" });
        const impossible = field(qa, "is_impossible") === true;
        const answers = checkAnswers(cps, field(qa, "answers"), where, out, requireAnswers, impossible);
        if (answers === null) return;
        const id = field(qa, "id");
        examples.push({ id: typeof id === "string" ? id : `${a}-${k}-${q}`, question, context, answers: impossible ? [] : answers, origin: where.file });
      });
    });
  });
  return examples;
}

function jsonl(path: string, requireAnswers: boolean, out: Collector): QaExample[] {
  const name = shown(path);
  const examples: QaExample[] = [];
  readUtf8(path, name)
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      const where = { file: name, line: i + 1 };
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch (e) {
        return out.add({ ...where, message: `malformed JSON: ${(e as Error).message}`, hint: "each line must be one complete JSON object" });
      }
      const question = field(row, "question");
      const context = field(row, "context");
      if (typeof question !== "string" || question.trim() === "") return out.add({ ...where, path: ["question"], message: "missing or empty question" });
      if (typeof context !== "string" || context.trim() === "") return out.add({ ...where, path: ["context"], message: "missing or empty context" });
      const impossible = field(row, "is_impossible") === true;
      const answers = checkAnswers(codePoints(context), field(row, "answers"), where, out, requireAnswers, impossible);
      if (answers === null) return;
      const id = field(row, "id");
      examples.push({ id: typeof id === "string" ? id : String(i + 1), question, context, answers: impossible ? [] : answers, origin: `${name}:${i + 1}` });
    });
  return examples;
}

export function readQaSource(src: { path: string; format: string }, requireAnswers = true): QaExample[] {
  if (!existsSync(src.path))
    throw new HoneError("data", `data file not found: ${shown(src.path)}`, [
      { file: shown(src.path), message: "no such file", hint: "paths in a config file are relative to that file" },
    ]);
  const ext = extname(src.path).toLowerCase();
  const format = src.format === "auto" ? (ext === ".jsonl" || ext === ".ndjson" ? "jsonl" : "json") : src.format;
  if (format !== "json" && format !== "jsonl")
    throw new HoneError("data", `question answering reads SQuAD JSON or JSONL, not ${format}`, [{ file: shown(src.path), message: `format ${format}` }]);
  const out = new Collector();
  const examples = format === "json" ? squad(src.path, requireAnswers, out) : jsonl(src.path, requireAnswers, out);
  if (out.issues.length > 0)
    throw new HoneError("data", `${out.issues.length}${out.truncated ? "+" : ""} invalid question(s) in ${shown(src.path)}`, out.issues);
  if (examples.length === 0)
    throw new HoneError("data", `no questions in ${shown(src.path)}`, [{ file: shown(src.path), message: "the file holds no questions" }]);
  return examples;
}

/** Whether a file is SQuAD 2.0-like: some questions have no answer. */
export const hasUnanswerable = (examples: QaExample[]) => examples.some((e) => e.answers.length === 0);
