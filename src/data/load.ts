// Read examples from JSONL, CSV/TSV or JSON files. Every problem is collected with its
// exact place (file:line and field) and reported together; nothing is half-read.
import { readFileSync, existsSync, statSync } from "node:fs";
import { extname, relative } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { HoneError, type Issue } from "../util/errors.js";
import { closest } from "../util/text.js";

export interface Example {
  text: string;
  /** One label (single-label) or several (multi-label); for hierarchies, the path. */
  labels: string[];
  /** Labels of the extra tasks (multi-task heads), by task name. */
  tasks?: Record<string, string[]>;
  /** Where the example came from, for messages: "file:line" or "file#/pointer/index". */
  origin: string;
}

export interface SourceSpec {
  path: string;
  format: "auto" | "jsonl" | "json" | "csv" | "tsv";
  pointer?: string;
  text: string;
  label: string;
  multiLabel: boolean;
  labelSeparator: string;
  /** false for prediction inputs, which carry no labels. */
  requireLabels: boolean;
  /** Hierarchical labels: a list label is a path, or one column per level (top first). */
  hierarchy?: { separator: string; levels: string[] | null };
  /** Extra label columns, one head each. */
  tasks?: { name: string; column: string; multiLabel: boolean }[];
}

const MAX_ISSUES = 50;

export function detectFormat(path: string): "jsonl" | "json" | "csv" | "tsv" {
  const ext = extname(path).toLowerCase();
  if (ext === ".jsonl" || ext === ".ndjson") return "jsonl";
  if (ext === ".json") return "json";
  if (ext === ".csv") return "csv";
  if (ext === ".tsv" || ext === ".tab") return "tsv";
  throw new HoneError("data", `cannot tell the format of ${path}`, [
    { file: path, message: `unknown extension "${ext}"`, hint: "use .jsonl, .json, .csv or .tsv, or set format: in the data source" },
  ]);
}

/** A source's row format; the token tasks' layouts (conll, seq) are refused here with a hint. */
export function rowFormat(src: { path: string; format: string }): RowSource["format"] {
  if (src.format === "conll" || src.format === "seq")
    throw new HoneError("config", `format ${src.format} is a layout of token tasks`, [
      { file: src.path, message: `this task reads jsonl, json, csv or tsv`, hint: "use task: token_classify for CoNLL or seq.in/seq.out data" },
    ]);
  return src.format as RowSource["format"];
}

/** Problems found while reading, each with its place; capped so a broken file stays readable. */
export class Collector {
  issues: Issue[] = [];
  add(issue: Issue): void {
    if (this.issues.length < MAX_ISSUES) this.issues.push(issue);
    else this.truncated = true;
  }
  truncated = false;
}

export function field(row: unknown, key: string): unknown {
  if (Array.isArray(row)) return /^\d+$/.test(key) ? row[Number(key)] : undefined;
  if (row && typeof row === "object") return (row as Record<string, unknown>)[key];
  return undefined;
}

export function rowKeys(row: unknown): string[] {
  if (Array.isArray(row)) return row.map((_, i) => String(i));
  return row && typeof row === "object" ? Object.keys(row) : [];
}

/** Validate one row and turn it into an Example, or record why not. */
function toExample(row: unknown, spec: SourceSpec, where: Omit<Issue, "message">, origin: string, out: Collector): Example | null {
  if (row === null || typeof row !== "object") {
    out.add({ ...where, message: "row is not an object", hint: `expected {"${spec.text}": "...", "${spec.label}": "..."}` });
    return null;
  }
  const missing = (key: string) => {
    const keys = rowKeys(row);
    const near = closest(key, keys);
    out.add({
      ...where,
      path: [key],
      message: `missing field "${key}"`,
      hint: near
        ? `the row has "${near}": map it with data.${key === spec.text ? "text" : "label"}: ${near}`
        : `fields in this row: ${keys.join(", ") || "none"}`,
    });
  };
  const text = field(row, spec.text);
  if (text === undefined || text === null) {
    missing(spec.text);
    return null;
  }
  if (typeof text !== "string") {
    out.add({ ...where, path: [spec.text], message: `text must be a string, got ${typeof text}` });
    return null;
  }
  if (text.trim() === "") {
    out.add({ ...where, path: [spec.text], message: "empty text", hint: "remove the row or fill in its text" });
    return null;
  }
  if (!spec.requireLabels) return { text, labels: [], origin };

  let labels: string[] | null;
  if (spec.hierarchy?.levels) {
    labels = levelPath(row, spec.hierarchy.levels, spec.hierarchy.separator, where, out);
  } else {
    const raw = field(row, spec.label);
    if (raw === undefined || raw === null) {
      missing(spec.label);
      return null;
    }
    labels = parseLabels(raw, spec.label, spec.hierarchy ? "path" : spec.multiLabel ? "multi" : "single", spec, where, out);
  }
  if (labels === null) return null;
  const tasks: Record<string, string[]> = {};
  for (const task of spec.tasks ?? []) {
    const raw = field(row, task.column);
    if (raw === undefined || raw === null) {
      missing(task.column);
      return null;
    }
    const l = parseLabels(raw, task.column, task.multiLabel ? "multi" : "single", spec, where, out);
    if (l === null) return null;
    tasks[task.name] = l;
  }
  return { text, labels, origin, ...(spec.tasks?.length ? { tasks } : {}) };
}

/** One label cell: a single label, a list or separated labels (multi), or a path (a list is its levels). */
function parseLabels(
  raw: unknown,
  column: string,
  kind: "single" | "multi" | "path",
  spec: SourceSpec,
  where: Omit<Issue, "message">,
  out: Collector,
): string[] | null {
  let labels: string[];
  if (Array.isArray(raw)) {
    if (kind === "single") {
      out.add({ ...where, path: [column], message: "a list of labels in a single-label task", hint: "set data.multi_label: true" });
      return null;
    }
    labels = raw.map((l) => (typeof l === "string" || typeof l === "number" ? String(l).trim() : ""));
    if (kind === "path") {
      const sep = spec.hierarchy!.separator;
      if (labels.some((l) => l.includes(sep))) {
        out.add({
          ...where,
          path: [column],
          message: `a level of ${JSON.stringify(raw)} contains the separator "${sep}"`,
          hint: "set hierarchy.separator to a string the labels do not contain",
        });
        return null;
      }
      labels = labels.some((l) => l === "") ? [""] : [labels.join(sep)];
    }
  } else if (typeof raw === "string" || typeof raw === "number" || typeof raw === "boolean") {
    const s = String(raw).trim();
    labels = kind === "multi" ? s.split(spec.labelSeparator).map((l) => l.trim()) : [s];
    if (kind === "multi" && s === "") labels = []; // an example with no label at all is valid multi-label data
  } else {
    out.add({ ...where, path: [column], message: `label must be a string${kind !== "single" ? " or a list" : ""}, got ${typeof raw}` });
    return null;
  }
  if (labels.some((l) => l === "") || (kind !== "multi" && labels.length !== 1)) {
    out.add({ ...where, path: [column], message: "empty label", hint: "every row needs a label" });
    return null;
  }
  return [...new Set(labels)];
}

/** A path from one column per level; empty trailing levels end the path early. */
function levelPath(row: unknown, levels: string[], separator: string, where: Omit<Issue, "message">, out: Collector): string[] | null {
  const values = levels.map((c) => {
    const v = field(row, c);
    return v === undefined || v === null ? "" : String(v).trim();
  });
  const depth = values.indexOf("");
  const used = depth === -1 ? values : values.slice(0, depth);
  if (used.length === 0) {
    out.add({ ...where, path: [levels[0]!], message: "empty label", hint: `the top level (column "${levels[0]}") needs a value` });
    return null;
  }
  const after = values.slice(used.length).findIndex((v) => v !== "");
  if (after !== -1) {
    const col = levels[used.length + after]!;
    out.add({
      ...where,
      path: [col],
      message: `inconsistent path: "${col}" has a value but "${levels[used.length]}" above it is empty`,
      hint: "fill in every level down to the deepest one",
    });
    return null;
  }
  if (used.some((v) => v.includes(separator))) {
    out.add({
      ...where,
      path: levels,
      message: `a level contains the separator "${separator}"`,
      hint: "set hierarchy.separator to a string the labels do not contain",
    });
    return null;
  }
  return [used.join(separator)];
}

/** Turns one raw row into an item, or records in `out` why not. */
export type RowVisitor<T> = (row: unknown, where: Omit<Issue, "message">, origin: string, out: Collector) => T | null;

/** Where rows come from: a file, its format and, for JSON documents, a pointer to the rows. */
export interface RowSource {
  path: string;
  format: "auto" | "jsonl" | "json" | "csv" | "tsv";
  pointer?: string;
}

/** A data file as text; bytes that are not UTF-8 are an error naming the line (never silently
 * replaced by U+FFFD, which would make new labels and texts out of damaged ones). */
export function readUtf8(file: string, shown: string): string {
  const bytes = readFileSync(file);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    let line = 1;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i === bytes.length || bytes[i] === 0x0a) {
        try {
          new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, i));
        } catch {
          const text = new TextDecoder("utf-8").decode(bytes.subarray(start, i));
          throw new HoneError("data", `${shown} is not valid UTF-8`, [
            {
              file: shown,
              line,
              message: `bytes that are not UTF-8 at column ${text.indexOf("\uFFFD") + 1}: ${JSON.stringify(text.slice(0, 80))}`,
              hint: "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
            },
          ]);
        }
        line++;
        start = i + 1;
      }
    }
    throw new HoneError("data", `${shown} is not valid UTF-8`, [{ file: shown, message: "bytes that are not UTF-8", hint: "save the file as UTF-8" }]);
  }
}

function readJsonl<T>(file: string, shown: string, visit: RowVisitor<T>, out: Collector): T[] {
  const examples: T[] = [];
  const lines = readUtf8(file, shown).split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const where = { file: shown, line: i + 1 };
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      out.add({ ...where, message: `malformed JSON: ${(e as Error).message}`, hint: "each line must be one complete JSON object" });
      return;
    }
    const ex = visit(row, where, `${shown}:${i + 1}`, out);
    if (ex) examples.push(ex);
  });
  return examples;
}

function readDelimited<T>(file: string, shown: string, visit: RowVisitor<T>, delimiter: string, out: Collector, header?: (columns: string[]) => void): T[] {
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parseCsv(readUtf8(file, shown), {
      columns: true,
      delimiter,
      info: true,
      skip_empty_lines: true,
      bom: true,
      relax_quotes: delimiter === "\t",
      quote: delimiter === "\t" ? false : '"',
    }) as typeof records;
  } catch (e) {
    const err = e as Error & { lines?: number };
    out.add({ file: shown, line: err.lines, message: err.message.replace(/^Invalid .*?: /, "") });
    return [];
  }
  if (records.length > 0) header?.(Object.keys(records[0]!.record));
  const examples: T[] = [];
  for (const { record, info } of records) {
    const ex = visit(record, { file: shown, line: info.lines }, `${shown}:${info.lines}`, out);
    if (ex) examples.push(ex);
  }
  return examples;
}

/** CSV/TSV: every column the spec names must be in the header (one error, with a did-you-mean). */
function checkHeader(header: string[], shown: string, spec: SourceSpec): void {
  const labelColumns = spec.hierarchy?.levels ? [spec.hierarchy.levels[0]!] : [spec.label];
  for (const key of spec.requireLabels ? [spec.text, ...labelColumns, ...(spec.tasks ?? []).map((t) => t.column)] : [spec.text]) {
    if (!header.includes(key)) {
      const near = closest(key, header);
      throw new HoneError("data", `column "${key}" not found in ${shown}`, [
        {
          file: shown,
          line: 1,
          path: [key],
          message: `no column "${key}"; the header has: ${header.join(", ")}`,
          hint: near ? `map it: data.${key === spec.text ? "text" : "label"}: ${near}` : "set data.text / data.label to the right column names",
        },
      ]);
    }
  }
}

function readJson<T>(file: string, shown: string, pointer: string, visit: RowVisitor<T>, out: Collector): T[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readUtf8(file, shown));
  } catch (e) {
    throw new HoneError("data", `cannot parse ${shown}`, [{ file: shown, message: `malformed JSON: ${(e as Error).message}` }]);
  }
  const parts = pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  let node = doc;
  for (const p of parts) node = field(node, p) ?? (node as Record<string, unknown> | null)?.[p];
  if (!Array.isArray(node)) {
    const keys = rowKeys(doc).slice(0, 10).join(", ");
    throw new HoneError("data", `${shown}${pointer ? ` at ${pointer}` : ""} is not an array of rows`, [
      {
        file: shown,
        message: "expected a JSON array of rows",
        hint: pointer ? `top-level keys: ${keys}` : `point at the rows with pointer: /KEY (keys: ${keys})`,
      },
    ]);
  }
  const examples: T[] = [];
  node.forEach((row, i) => {
    const origin = `${shown}#${pointer}/${i}`;
    const ex = visit(row, { file: `${shown}#${pointer}/${i}` }, origin, out);
    if (ex) examples.push(ex);
  });
  return examples;
}

/** Read every row of a source through `visit`. Throws a HoneError listing every bad row. */
export function readRows<T>(spec: RowSource, visit: RowVisitor<T>, header?: (columns: string[], shown: string) => void): T[] {
  const shown = relative(process.cwd(), spec.path) || spec.path;
  if (!existsSync(spec.path) || !statSync(spec.path).isFile()) {
    throw new HoneError("data", `data file not found: ${shown}`, [
      { file: shown, message: "no such file", hint: "paths in a config file are relative to that file" },
    ]);
  }
  const format = spec.format === "auto" ? detectFormat(spec.path) : spec.format;
  const out = new Collector();
  const examples =
    format === "jsonl"
      ? readJsonl(spec.path, shown, visit, out)
      : format === "json"
        ? readJson(spec.path, shown, spec.pointer ?? "", visit, out)
        : readDelimited(spec.path, shown, visit, format === "tsv" ? "\t" : ",", out, header && ((cols) => header(cols, shown)));
  if (out.issues.length > 0) {
    const more = out.truncated ? ` (first ${MAX_ISSUES} shown)` : "";
    throw new HoneError("data", `${out.issues.length}${out.truncated ? "+" : ""} invalid row(s) in ${shown}${more}`, out.issues);
  }
  if (examples.length === 0) {
    throw new HoneError("data", `no examples in ${shown}`, [{ file: shown, message: "the file holds no rows" }]);
  }
  return examples;
}

/** Read and validate one data source of labelled (or, for prediction, unlabelled) texts. */
export function readSource(spec: SourceSpec): Example[] {
  return readRows(
    spec,
    (row, where, origin, out) => toExample(row, spec, where, origin, out),
    (header, shown) => checkHeader(header, shown, spec),
  );
}
