// From the resolved config to the three splits: read files, split what is missing, check labels.
import type { ResolvedConfig, ResolvedSource } from "../config/resolve.js";
import { HoneError } from "../util/errors.js";
import { sha256 } from "../util/fs.js";
import { readSource, type Example } from "./load.js";
import { qualityReport, type QualityReport } from "./quality.js";
import { splitExamples } from "./split.js";

export interface Dataset {
  train: Example[];
  validation: Example[];
  test: Example[];
  /** Sorted labels of the train split: the model's classes. */
  labels: string[];
  /** Where validation and test came from. */
  origin: { validation: "file" | "split" | "none"; test: "file" | "split" | "none" };
  quality: QualityReport;
  /** sha256 over the examples of all splits: identifies the data a run saw. */
  hash: string;
}

export function readResolved(src: ResolvedSource, data: ResolvedConfig["data"], requireLabels = true): Example[] {
  return readSource({
    path: src.path,
    format: src.format,
    pointer: src.pointer ?? undefined,
    text: src.text,
    label: src.label,
    multiLabel: data.multi_label,
    labelSeparator: data.label_separator,
    requireLabels,
  });
}

export function loadDataset(cfg: ResolvedConfig): Dataset {
  const d = cfg.data;
  let train = readResolved(d.train, d);
  let validation = d.validation ? readResolved(d.validation, d) : [];
  let test = d.test ? readResolved(d.test, d) : [];
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
  const quality = qualityReport({ train, validation, test });
  if (quality.unseenLabels.length > 0) {
    throw new HoneError(
      "data",
      `${quality.unseenLabels.length} example(s) have labels that never occur in train`,
      quality.unseenLabels.slice(0, 20).map((u) => {
        const [file, line] = u.origin.split(/:(?=\d+$)/);
        return {
          file,
          line: line ? Number(line) : undefined,
          path: [u.split === "validation" ? d.validation?.label ?? d.train.label : d.test?.label ?? d.train.label],
          message: `label "${u.label}" (in ${u.split}) is not in the training data`,
          hint: "a model cannot predict a class it never saw: add training examples for it or drop these rows",
        };
      }),
    );
  }
  const labels = [...new Set(train.flatMap((e) => e.labels))].sort();
  if (!d.multi_label && labels.length < 2) {
    throw new HoneError("data", `the training data has only ${labels.length} label`, [{ file: d.train.path, message: `labels: ${labels.join(", ")}`, hint: "a classifier needs at least two classes" }]);
  }
  const hash = sha256(JSON.stringify([train, validation, test].map((s) => s.map((e) => [e.text, e.labels]))));
  return { train, validation, test, labels, origin, quality, hash };
}

/** Class indices per example, for shards and metrics. */
export function encodeLabels(examples: Example[], labels: string[]): number[][] {
  const index = new Map(labels.map((l, i) => [l, i]));
  return examples.map((e) => e.labels.map((l) => index.get(l)!));
}
