// Read a config file (YAML or JSON), apply command-line overrides, validate with zod and
// report every problem at once with its file, line and field path.
import { readFileSync, existsSync, statSync } from "node:fs";
import { isAbsolute, resolve, dirname } from "node:path";
import { LineCounter, parseDocument, parse as parseYamlValue, isMap, isNode } from "yaml";
import type { z } from "zod";
import { HoneError, type Issue } from "../util/errors.js";
import { TuneConfig, UserConfig } from "./schema.js";
import { closest } from "../util/text.js";

export interface LoadedConfig {
  config: UserConfig;
  /** Directory that relative paths in the config are resolved against. */
  baseDir: string;
  file: string | null;
  /** Line of a field in the config file, for messages about it (undefined without a file). */
  lineOf: (path: (string | number)[]) => number | undefined;
}

/** Keys that would reach an object's prototype instead of a setting: never a config key. */
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** `a.b.c=value`: the value is read as YAML, so numbers, booleans, null and lists work. */
export function parseOverride(text: string): { path: string[]; value: unknown } {
  const eq = text.indexOf("=");
  if (eq <= 0) {
    throw new HoneError("usage", `override "${text}" is not KEY=VALUE`, [
      { message: "expected a dotted key, '=' and a value", hint: "e.g. --set train.lr=3e-5" },
    ]);
  }
  const path = text.slice(0, eq).trim().split(".");
  const bad = path.find((k) => k === "" || FORBIDDEN_KEYS.has(k));
  if (bad !== undefined) {
    throw new HoneError("usage", `override "${text.slice(0, eq)}" is not a setting`, [
      {
        message: bad === "" ? "an empty key between dots" : `"${bad}" is not a config key`,
        hint: "give a dotted path of the config, e.g. --set train.lr=3e-5 (hone schema lists them)",
      },
    ]);
  }
  const value = parseYamlValue(text.slice(eq + 1));
  checkKeys(value, path, "command line");
  return { path, value };
}

/** No key anywhere in a value may reach a prototype (`__proto__`, `constructor`, `prototype`). */
function checkKeys(value: unknown, path: (string | number)[], file: string, lineOf?: LoadedConfig["lineOf"]): void {
  if (typeof value !== "object" || value === null) return;
  for (const [k, v] of Object.entries(value)) {
    if (FORBIDDEN_KEYS.has(k)) {
      throw new HoneError("config", `"${k}" is not a config key`, [
        {
          file,
          line: lineOf?.([...path, k]),
          path: [...path, k],
          message: "a key that would reach an object's prototype",
          hint: "remove it; hone schema lists the settings",
        },
      ]);
    }
    checkKeys(v, [...path, Array.isArray(value) ? Number(k) : k], file, lineOf);
  }
}

export function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node: Record<string, unknown> = target;
  for (const key of path.slice(0, -1)) {
    const next = Object.hasOwn(node, key) ? node[key] : undefined;
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Deep merge of `source` into `target`: mappings key by key, anything else replaced. */
function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    const here = Object.hasOwn(target, key) ? target[key] : undefined;
    if (isMapping(here) && isMapping(value)) mergeInto(here, value);
    else target[key] = value;
  }
}

const DATA_SOURCE_KEYS = ["path", "format", "pointer", "text", "label"];

/** Keys allowed at a path, read off the fully defaulted config. */
export function knownKeys(path: (string | number)[]): string[] {
  if (path[0] === "data" && ["train", "validation", "test"].includes(String(path[1]))) return DATA_SOURCE_KEYS;
  if (path[0] === "tune" && path[1] === "space" && path.length === 3) return ["dist", "when"];
  let node: unknown = { ...UserConfig.parse({ data: { train: "x" } }), tune: TuneConfig.parse({ space: { x: [1] } }) };
  for (const key of path) node = (node as Record<string, unknown> | undefined)?.[key as string];
  return node && typeof node === "object" ? Object.keys(node) : [];
}

/** zod issues -> our issues, with a line number when the field came from the file. */
export function zodIssues(error: z.ZodError, file?: string, lineOf?: (path: (string | number)[]) => number | undefined): Issue[] {
  const out: Issue[] = [];
  const visit = (issues: z.core.$ZodIssue[], prefix: (string | number)[]) => {
    for (const issue of issues) {
      const path = [...prefix, ...(issue.path as (string | number)[])];
      if (issue.code === "invalid_union" && "errors" in issue && issue.errors.length > 0) {
        // Report the branch that got furthest, not "invalid input".
        const branches = issue.errors as z.core.$ZodIssue[][];
        const best = branches.reduce((a, b) => ((b.length > 0 && b.length <= a.length) || a.length === 0 ? b : a));
        if (best.length > 0 && best.some((i) => i.code !== "invalid_type" || i.path.length > 0)) {
          visit(best, path);
          continue;
        }
      }
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) {
          const suggestion = closest(key, knownKeys(path));
          out.push({
            file,
            line: lineOf?.([...path, key]),
            path: [...path, key],
            message: "unknown key",
            hint: suggestion ? `did you mean "${suggestion}"?` : `allowed here: ${knownKeys(path).join(", ")}`,
          });
        }
        continue;
      }
      let hint: string | undefined;
      if (issue.code === "invalid_value" && "values" in issue) hint = `one of: ${issue.values.map(String).join(", ")}`;
      out.push({ file, line: lineOf?.(path), path, message: issue.message, hint });
    }
  };
  visit(error.issues, []);
  return out;
}

export function loadConfig(file: string | null, overrides: string[] = [], base: Record<string, unknown> = {}): LoadedConfig {
  let raw: Record<string, unknown> = {};
  let lineOf: LoadedConfig["lineOf"] = () => undefined;
  let baseDir = process.cwd();
  if (file) {
    const abs = resolve(file);
    if (!existsSync(abs)) {
      throw new HoneError("config", `config file not found: ${file}`, [
        { file, message: "no such file", hint: "check the path, or pass --data and --model instead" },
      ]);
    }
    if (!statSync(abs).isFile()) {
      throw new HoneError("config", `the config ${file} is not a file`, [
        { file, message: "a folder", hint: "name the YAML or JSON file inside it, e.g. hone.yaml" },
      ]);
    }
    baseDir = dirname(abs);
    const text = readFileSync(abs, "utf8");
    const counter = new LineCounter();
    const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
    if (doc.errors.length > 0) {
      throw new HoneError(
        "config",
        `cannot parse ${file}`,
        doc.errors.map((e) => ({ file, line: counter.linePos(e.pos[0]).line, message: e.message.split("\n")[0]! })),
      );
    }
    const value = doc.toJS();
    checkKeys(value, [], file, (path) => {
      const node = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
      const pair = isMap(node) ? node.items.find((p) => isNode(p.key) && String((p.key as { value?: unknown }).value) === String(path.at(-1))) : undefined;
      return pair && isNode(pair.key) && pair.key.range ? counter.linePos(pair.key.range[0]).line : undefined;
    });
    if (value !== null && (typeof value !== "object" || Array.isArray(value))) {
      throw new HoneError("config", `${file} must hold a mapping of settings`, [{ file, line: 1, message: "the top level is not a mapping" }]);
    }
    raw = value ?? {};
    lineOf = (path) => {
      for (let n = path.length; n > 0; n--) {
        const node = doc.getIn(path.slice(0, n), true);
        if (isNode(node) && node.range) return counter.linePos(node.range[0]).line;
        // A key whose value is a scalar: find the pair in the parent map.
        const parent = n > 1 ? doc.getIn(path.slice(0, n - 1), true) : doc.contents;
        if (isMap(parent)) {
          const pair = parent.items.find((p) => isNode(p.key) && String((p.key as { value?: unknown }).value) === String(path[n - 1]));
          if (pair && isNode(pair.key) && pair.key.range) return counter.linePos(pair.key.range[0]).line;
        }
      }
      return undefined;
    };
  }
  // `model: name` is short for `model: {path: name}`: written out, so that --model and
  // --set model.* below change the one setting they name.
  if (typeof raw.model === "string") raw.model = { path: raw.model };
  // The flags (--model, --epochs, ...) over the file, setting by setting: `--epochs 1` replaces
  // the file's train.epochs and keeps its train.lr. Then --set, in order.
  mergeInto(raw, structuredClone(base));
  for (const text of overrides) {
    const { path, value } = parseOverride(text);
    setPath(raw, path, value);
  }
  const parsed = UserConfig.safeParse(raw);
  if (!parsed.success) {
    throw new HoneError("config", `invalid config${file ? ` in ${file}` : ""}`, zodIssues(parsed.error, file ?? "command line", lineOf));
  }
  return { config: parsed.data, baseDir, file: file ? resolve(file) : null, lineOf };
}

export function resolvePath(baseDir: string, p: string): string {
  return isAbsolute(p) ? p : resolve(baseDir, p);
}
