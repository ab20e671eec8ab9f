// Taxonomy files and label paths. A taxonomy is read from nested YAML/JSON
//   { product: { defect: null, sizing: null }, payment: [refund, charge] }
// or from a parent-child TSV in the HiAGM format: "parent<TAB>child<TAB>child...", where the
// parent "Root" declares the top level. Node names in a taxonomy file are unique, so a data
// label may be a leaf name ("refund") or a full path ("payment/refund").
import { existsSync, readFileSync } from "node:fs";
import { extname, relative } from "node:path";
import { parse as parseYaml } from "yaml";
import { closest } from "../util/text.js";
import { HoneError, type Issue } from "../util/errors.js";

export interface Taxonomy {
  file: string;
  /** Full path of every node, by node name. */
  byName: Map<string, string[]>;
}

const fail = (file: string, message: string, issues: Issue[]): never => {
  throw new HoneError("data", `bad taxonomy ${file}: ${message}`, issues);
};

function fromNested(doc: unknown, file: string): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  const issues: Issue[] = [];
  const visit = (node: unknown, path: string[]) => {
    const add = (name: string, children: unknown) => {
      const where = [...path, name];
      if (name.trim() === "") issues.push({ file, path: where, message: "empty node name" });
      else if (byName.has(name)) {
        const first = byName.get(name)!;
        const same = first.slice(0, -1).join("/") === path.join("/");
        issues.push({
          file,
          path: where,
          message: same
            ? `"${name}" is listed twice under ${path.join("/") || "the top level"}`
            : `"${name}" is a child of two parents: ${first.slice(0, -1).join("/") || "top level"} and ${path.join("/") || "top level"}`,
          hint: "node names in a taxonomy must be unique: rename one of them",
        });
      } else byName.set(name, where);
      visit(children, where);
    };
    if (node === null || node === undefined) return;
    if (Array.isArray(node)) {
      for (const item of node) {
        if (typeof item === "string" || typeof item === "number") add(String(item), null);
        else if (item && typeof item === "object" && !Array.isArray(item)) for (const [k, v] of Object.entries(item)) add(k, v);
        else issues.push({ file, path, message: `a list item must be a name or a mapping, got ${JSON.stringify(item)}` });
      }
    } else if (typeof node === "object") {
      for (const [k, v] of Object.entries(node as Record<string, unknown>)) add(k, v);
    } else if (typeof node === "string") {
      add(node, null);
    } else issues.push({ file, path, message: `expected a mapping or list of children, got ${JSON.stringify(node)}` });
  };
  visit(doc, []);
  if (issues.length > 0) fail(file, `${issues.length} problem(s)`, issues);
  return byName;
}

function fromTsv(text: string, file: string): Map<string, string[]> {
  const parentOf = new Map<string, { parent: string; line: number }>();
  const issues: Issue[] = [];
  const lines = text.split(/\r?\n/);
  let rootLine = 0;
  lines.forEach((raw, i) => {
    if (raw.trim() === "" || raw.startsWith("#")) return;
    const [parent, ...children] = raw.split("\t").map((c) => c.trim());
    const isRoot = parent!.toLowerCase() === "root";
    if (isRoot) rootLine = i + 1;
    if (children.filter(Boolean).length === 0) {
      issues.push({ file, line: i + 1, message: `"${parent}" has no children on this line`, hint: "each line is: parent<TAB>child<TAB>child..." });
    }
    for (const child of children) {
      if (child === "") continue;
      const seen = parentOf.get(child);
      if (seen) {
        issues.push({
          file,
          line: i + 1,
          message:
            seen.parent === (isRoot ? "" : parent)
              ? `"${child}" is listed twice under "${parent}"`
              : `"${child}" is a child of two parents: "${seen.parent || "Root"}" (line ${seen.line}) and "${parent}"`,
          hint: "node names in a taxonomy must be unique: rename one of them",
        });
      } else parentOf.set(child, { parent: isRoot ? "" : parent!, line: i + 1 });
    }
  });
  if (rootLine === 0) issues.push({ file, message: "no top level: no line starts with Root", hint: "add a line: Root<TAB>top1<TAB>top2..." });
  // Every parent must itself be declared: under Root or as someone's child.
  for (const [child, { parent, line }] of parentOf) {
    if (rootLine > 0 && parent !== "" && !parentOf.has(parent)) {
      const near = closest(parent, [...parentOf.keys()]);
      issues.push({
        file,
        line,
        message: `orphan: parent "${parent}" of "${child}" is not in the taxonomy`,
        hint: near ? `did you mean "${near}"?` : `declare it: add "${parent}" to the Root line or under its own parent`,
      });
    }
  }
  // Cycles: follow parents up; a chain that comes back to where it started never reaches Root.
  const reported = new Set<string>();
  for (const start of parentOf.keys()) {
    const chain: string[] = [];
    let node: string | undefined = start;
    while (node !== undefined && node !== "" && !chain.includes(node)) {
      chain.push(node);
      node = parentOf.get(node)?.parent;
    }
    if (node !== undefined && node !== "" && chain.includes(node) && !reported.has(node)) {
      const cycle = chain.slice(chain.indexOf(node));
      cycle.forEach((n) => reported.add(n));
      issues.push({
        file,
        line: parentOf.get(node)!.line,
        message: `cycle: ${[...cycle].reverse().join(" -> ")} -> ${cycle.at(-1)}`,
        hint: "a taxonomy is a tree: remove one of these parent-child lines",
      });
    }
  }
  if (issues.length > 0) fail(file, `${issues.length} problem(s)`, issues);
  const byName = new Map<string, string[]>();
  const pathOf = (name: string): string[] => {
    const known = byName.get(name);
    if (known) return known;
    const parent = parentOf.get(name)!.parent;
    const path = parent === "" ? [name] : [...pathOf(parent), name];
    byName.set(name, path);
    return path;
  };
  for (const name of parentOf.keys()) pathOf(name);
  return byName;
}

export function readTaxonomy(path: string): Taxonomy {
  const file = relative(process.cwd(), path) || path;
  if (!existsSync(path))
    throw new HoneError("data", `taxonomy file not found: ${file}`, [
      { file, message: "no such file", hint: "paths in a config file are relative to that file" },
    ]);
  const text = readFileSync(path, "utf8");
  const ext = extname(path).toLowerCase();
  if (ext === ".tsv" || ext === ".txt" || ext === ".taxonomy" || ext === ".taxnomy") return { file, byName: fromTsv(text, file) };
  let doc: unknown;
  try {
    doc = ext === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    return fail(file, "cannot be parsed", [{ file, message: (e as Error).message.split("\n")[0]! }]);
  }
  return { file, byName: fromNested(doc, file) };
}

/**
 * A data label as a path: split at the separator, or (with a taxonomy) a leaf name looked up,
 * or a full path checked against it. Returns an issue message instead when it is not valid.
 */
export function labelPath(label: string, separator: string, taxonomy: Taxonomy | null): { path: string[] } | { error: string; hint?: string } {
  const parts = label.split(separator).map((p) => p.trim());
  if (parts.some((p) => p === ""))
    return { error: `label "${label}" has an empty level`, hint: `levels are separated by "${separator}"; remove the extra separator` };
  if (!taxonomy) return { path: parts };
  const last = parts.at(-1)!;
  const known = taxonomy.byName.get(last);
  if (!known) {
    const near = closest(last, [...taxonomy.byName.keys()]);
    return {
      error: `label "${last}" is not in the taxonomy ${taxonomy.file}`,
      hint: near ? `did you mean "${near}"?` : "add it to the taxonomy or fix the label",
    };
  }
  if (parts.length > 1 && parts.join("\u0000") !== known.join("\u0000")) {
    return {
      error: `inconsistent path "${label}": the taxonomy places "${last}" at ${known.join(separator)}`,
      hint: "fix the path, or give just the leaf name",
    };
  }
  return { path: known };
}

/** Full paths of the taxonomy's leaves (nodes without children), joined with the separator. */
export function leafPaths(t: Taxonomy, separator: string): string[] {
  const parents = new Set([...t.byName.values()].filter((p) => p.length > 1).map((p) => p.at(-2)!));
  return [...t.byName.entries()].filter(([name]) => !parents.has(name)).map(([, p]) => p.join(separator));
}
