// From the resolved config to the three splits: read files, split what is missing, check labels.
import { readFileSync } from "node:fs";
import { rowFormat } from "./load.js";
import type { ResolvedConfig, ResolvedSource } from "../config/resolve.js";
import { HoneError, type Issue } from "../util/errors.js";
import { sha256 } from "../util/fs.js";
import { readSource, type Example } from "./load.js";
import { labelVariants, qualityReport, showLabel, type QualityReport } from "./quality.js";
import { splitExamples } from "./split.js";
import { labelPath, leafPaths, readTaxonomy } from "../hierarchy/taxonomy.js";

export interface Dataset {
  train: Example[];
  validation: Example[];
  test: Example[];
  /** Sorted labels of the train split: the model's classes (hierarchies: label paths). */
  labels: string[];
  /** Sorted labels of each extra task in the train split. */
  taskLabels: Record<string, string[]>;
  /** Where validation and test came from. */
  origin: { validation: "file" | "split" | "none"; test: "file" | "split" | "none" };
  quality: QualityReport;
  /** Things worth a warning that are not errors. */
  notes: string[];
  /** sha256 over the examples of all splits: identifies the data a run saw. */
  hash: string;
}

export function readResolved(src: ResolvedSource, cfg: ResolvedConfig, requireLabels = true): Example[] {
  const h = cfg.hierarchy ?? null; // present for hierarchies only
  const examples = readSource({
    path: src.path,
    format: rowFormat(src),
    pointer: src.pointer ?? undefined,
    text: src.text,
    label: src.label,
    multiLabel: cfg.data.multi_label,
    labelSeparator: cfg.data.label_separator,
    requireLabels,
    ...(h ? { hierarchy: { separator: h.separator, levels: h.levels } } : {}),
    tasks: (cfg.data.tasks ?? []).map((t) => ({ name: t.name, column: t.column, multiLabel: t.multi_label })),
  });
  return h && requireLabels ? canonicalPaths(examples, cfg) : examples;
}

/** Hierarchy labels as full paths (a leaf name looked up in the taxonomy, a path checked against it). */
function canonicalPaths(examples: Example[], cfg: ResolvedConfig): Example[] {
  const h = cfg.hierarchy!;
  const taxonomy = h.taxonomy ? readTaxonomy(h.taxonomy) : null;
  const issues: Issue[] = [];
  const out = examples.map((e) => {
    const r = labelPath(e.labels[0]!, h.separator, taxonomy);
    if ("error" in r) {
      const [file, line] = e.origin.split(/:(?=\d+$)/);
      if (issues.length < 50)
        issues.push({
          file,
          line: line ? Number(line) : undefined,
          path: [h.levels ? h.levels.join("/") : (cfg.data.train?.label ?? "label")],
          message: r.error,
          hint: r.hint,
        });
      return e;
    }
    return { ...e, labels: [r.path.join(h.separator)] };
  });
  if (issues.length > 0) throw new HoneError("data", `${issues.length} label(s) do not fit the hierarchy`, issues);
  return out;
}

/** A file of generated examples that Hone wrote ({"text", "labels"} per line, labels as the model's
 * classes: hierarchy paths in full). */
export function readGenerated(path: string): Example[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .flatMap((line, i) => {
      if (line.trim() === "") return [];
      const row = JSON.parse(line) as { text: string; labels: string[] };
      return [{ text: row.text, labels: row.labels, origin: `${path}:${i + 1}` }];
    });
}

export function loadDataset(cfg: ResolvedConfig): Dataset {
  const d = cfg.data;
  let train = d.train ? readResolved(d.train, cfg) : [];
  let validation = d.validation ? readResolved(d.validation, cfg) : [];
  let test = d.test ? readResolved(d.test, cfg) : [];
  const notes: string[] = [];
  if (d.merge_label_variants) {
    const { groups } = labelVariants([...train, ...validation, ...test]);
    const to = new Map(groups.flatMap((g) => g.variants.slice(1).map((v) => [v.label, g.variants[0]!.label] as const)));
    if (to.size > 0) {
      const merge = (e: Example): Example => ({ ...e, labels: [...new Set(e.labels.map((l) => to.get(l) ?? l))] });
      [train, validation, test] = [train.map(merge), validation.map(merge), test.map(merge)];
      notes.push(
        `merged ${to.size} label spelling(s) into ${groups.length} label(s) (data.merge_label_variants): ${[...to]
          .slice(0, 3)
          .map(([a, b]) => `${showLabel(a)} -> ${showLabel(b)}`)
          .join(", ")}`,
      );
    }
  }
  const origin: Dataset["origin"] = {
    validation: d.validation ? "file" : d.split.validation > 0 ? "split" : "none",
    test: d.test ? "file" : d.split.test > 0 ? "split" : "none",
  };
  if (origin.validation === "split" || origin.test === "split") {
    const parts = splitExamples(
      train,
      { validation: origin.validation === "split" ? d.split.validation : 0, test: origin.test === "split" ? d.split.test : 0 },
      d.split.seed,
      d.split.stratify,
    );
    train = parts.train;
    if (origin.validation === "split") validation = parts.validation;
    if (origin.test === "split") test = parts.test;
  }
  // Generated examples (augmentation) join train after the split: validation and test stay
  // exactly those of the run without them.
  if (d.generated) train = [...train, ...readGenerated(d.generated)];
  const quality = qualityReport({ train, validation, test });
  // A hierarchy with a taxonomy knows every leaf, trained or not: the model gets all of them as
  // classes, and evaluation counts examples of untrained leaves honestly (as errors, mostly).
  const h = cfg.hierarchy ?? null; // present for hierarchies only
  const taxonomyLeaves = h?.taxonomy ? leafPaths(readTaxonomy(h.taxonomy), h.separator) : [];
  if (taxonomyLeaves.length > 0) {
    const leaves = new Set(taxonomyLeaves);
    const untrained = quality.unseenLabels.filter((u) => leaves.has(u.label));
    if (untrained.length > 0)
      notes.push(
        `${untrained.length} validation/test example(s) have taxonomy leaves with no training example (e.g. ${untrained[0]!.label} at ${untrained[0]!.origin})`,
      );
    quality.unseenLabels = quality.unseenLabels.filter((u) => !leaves.has(u.label));
  }
  // A zero-shot classifier without training data (resolve.ts allows no other): its classes are the
  // labels its descriptions name, or a taxonomy's leaves.
  const declared = new Set(d.train || taxonomyLeaves.length > 0 ? [] : Object.keys(cfg.fewshot?.descriptions ?? {}));
  quality.unseenLabels = quality.unseenLabels.filter((u) => !declared.has(u.label));
  if (quality.unseenLabels.length > 0) {
    throw new HoneError(
      "data",
      `${quality.unseenLabels.length} example(s) have labels that never occur in train`,
      quality.unseenLabels.slice(0, 20).map((u) => {
        const [file, line] = u.origin.split(/:(?=\d+$)/);
        return {
          file,
          line: line ? Number(line) : undefined,
          path: [(u.split === "validation" ? d.validation : d.test)?.label ?? "label"],
          message: d.train
            ? `label "${u.label}" (in ${u.split}) is not in the training data`
            : `label "${u.label}" (in ${u.split}) is not one of fewshot.descriptions' labels`,
          hint: d.train
            ? "a model cannot predict a class it never saw: add training examples for it or drop these rows"
            : "describe it in fewshot.descriptions (its name is enough: label: label name), or drop these rows",
        };
      }),
    );
  }
  const labels = [...new Set([...train.flatMap((e) => e.labels), ...taxonomyLeaves, ...declared])].sort();
  if (!d.multi_label && labels.length < 2) {
    throw new HoneError("data", `the ${d.train ? "training data has" : "descriptions name"} only ${labels.length} label`, [
      d.train
        ? { file: d.train.path, message: `labels: ${labels.join(", ")}`, hint: "a classifier needs at least two classes" }
        : { path: ["fewshot", "descriptions"], message: `labels: ${labels.join(", ")}`, hint: "a classifier needs at least two classes" },
    ]);
  }
  const taskLabels: Record<string, string[]> = {};
  for (const t of d.tasks ?? []) {
    const known = new Set(train.flatMap((e) => e.tasks![t.name]!));
    taskLabels[t.name] = [...known].sort();
    const unseen = [...validation, ...test].filter((e) => e.tasks![t.name]!.some((l) => !known.has(l)));
    if (unseen.length > 0) {
      throw new HoneError(
        "data",
        `${unseen.length} example(s) have ${t.name} labels that never occur in train`,
        unseen.slice(0, 20).map((e) => ({
          file: e.origin,
          path: [t.column],
          message: `${t.name} label(s) ${e.tasks![t.name]!.join(", ")} not in the training data`,
          hint: "add training examples for them or drop these rows",
        })),
      );
    }
  }
  const hash = sha256(JSON.stringify([train, validation, test].map((s) => s.map((e) => [e.text, e.labels, ...(e.tasks ? [e.tasks] : [])]))));
  return { train, validation, test, labels, taskLabels, origin, quality, hash, notes };
}
