// Classifiers with little data: which method a run uses (finetune, fewshot, zeroshot), the
// contrastive stage's pairs, and the texts that stand for each label (zero-shot and a head that
// starts from the labels). Decided here, in TypeScript; the engine trains what the job says.
import { existsSync, readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { resolvePath } from "../config/load.js";
import type { ResolvedConfig, ResolvedFewShot } from "../config/resolved.js";
import { FewShotConfig, type UserConfig } from "../config/schema.js";
import type { Example } from "../data/load.js";
import { HoneError } from "../util/errors.js";
import { Rng } from "../tune/rng.js";
import type { HeadPlan } from "./heads.js";

export type Method = "finetune" | "fewshot" | "zeroshot";

/** The fewshot section of a classifier's resolved config: the descriptions file read, a list of
 * labels made a map of each to its name. */
export function resolveFewShot(c: UserConfig, baseDir: string): ResolvedFewShot {
  const f = c.fewshot;
  // Numbers too: YAML reads a label 3 as a number, the data as the text "3".
  const named = (labels: (string | number)[]) => Object.fromEntries(labels.map((l) => [String(l), labelName(String(l), null)]));
  let descriptions = Array.isArray(f.descriptions) ? named(f.descriptions) : f.descriptions;
  if (typeof descriptions === "string") {
    const file = resolvePath(baseDir, descriptions);
    const bad = (message: string) =>
      new HoneError("config", "invalid label descriptions", [
        {
          file,
          path: ["fewshot", "descriptions"],
          message,
          hint: "a YAML or JSON map of label to description (card_arrival: when will my card arrive), or a list of labels",
        },
      ]);
    if (!existsSync(file)) throw bad("no such file");
    let value: unknown;
    try {
      value = parseYaml(readFileSync(file, "utf8"));
    } catch (e) {
      throw bad(`not YAML or JSON: ${(e as Error).message.split("\n")[0]}`);
    }
    if (Array.isArray(value)) {
      if (value.length === 0 || value.some((v) => !(typeof v === "number" || (typeof v === "string" && v.trim() !== ""))))
        throw bad("a list, but not of labels");
      value = named(value as (string | number)[]);
    }
    if (value === null || typeof value !== "object") throw bad("not a map of label to description");
    for (const [k, v] of Object.entries(value)) if (typeof v !== "string" || v.trim() === "") throw bad(`the description of "${k}" is not a text`);
    descriptions = value as Record<string, string>;
  }
  return { ...f, descriptions };
}

/** Runs made before few-shot trained as finetune (the schema's defaults otherwise). */
export const fewShotOf = (cfg: ResolvedConfig): ResolvedFewShot => cfg.fewshot ?? { ...FewShotConfig.parse({}), method: "finetune", descriptions: null };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** The method a run trains with, and why (said in the output, stored in the plan). */
export function decideMethod(f: ResolvedFewShot, train: Example[], labels: string[]): { method: Method; reason: string } {
  const per = new Map(labels.map((l) => [l, 0]));
  for (const e of train) for (const l of e.labels) per.set(l, (per.get(l) ?? 0) + 1);
  return methodFor(f, [...per.values()]);
}

/** The method for these training examples per label (`hone data inspect` says it before a run). */
export function methodFor(f: ResolvedFewShot, perLabel: number[]): { method: Method; reason: string } {
  const m = median(perLabel);
  const counts = `median ${m} training example${m === 1 ? "" : "s"} per label over ${perLabel.length} labels`;
  if (f.method !== "auto") return { method: f.method, reason: `fewshot.method: ${f.method} (${counts})` };
  return m <= f.auto_below
    ? { method: "fewshot", reason: `${counts}, at most fewshot.auto_below (${f.auto_below}): a contrastive stage first; fewshot.method: finetune skips it` }
    : { method: "finetune", reason: `${counts}, more than fewshot.auto_below (${f.auto_below})` };
}

/** How the head starts, for a method. */
export function headInit(f: ResolvedFewShot, method: Method): "random" | "prototypes" | "labels" {
  if (method === "zeroshot") return "labels";
  if (f.head_init !== "auto") return f.head_init;
  return method === "fewshot" ? "prototypes" : "random";
}

/**
 * The contrastive stage's pairs, `perExample` per training example and epoch: each example in
 * turn is the anchor of as many similar pairs (another example sharing a label) as dissimilar
 * ones. Dissimilar partners are drawn by label first, then example, so that every other label is
 * met as often, however unbalanced the data. Pairs of one epoch are shuffled; epochs are drawn
 * afresh. A pure function of the seed.
 */
export function samplePairs(labelsOf: string[][], perExample: number, epochs: number, seed: number): { pairs: Int32Array; similar: Float32Array } {
  const rng = new Rng(seed);
  const byLabel = new Map<string, number[]>();
  labelsOf.forEach((ls, i) => {
    for (const l of ls) {
      if (!byLabel.has(l)) byLabel.set(l, []);
      byLabel.get(l)!.push(i);
    }
  });
  const labels = [...byLabel.keys()].sort();
  const pick = <T>(xs: T[]): T => xs[rng.int(xs.length)]!;
  const n = labelsOf.length;
  const perEpoch = n * perExample;
  const pairs = new Int32Array(perEpoch * epochs * 2);
  const similar = new Float32Array(perEpoch * epochs);
  let k = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const epochPairs: [number, number, number][] = [];
    for (let i = 0; i < n; i++) {
      const own = new Set(labelsOf[i]);
      const others = labels.filter((l) => !own.has(l));
      for (let r = 0; r < perExample; r++) {
        if (own.size === 0 && others.length === 0) {
          epochPairs.push([i, i, 1]); // no example has a label: nothing to contrast
        } else if ((r % 2 === 0 && own.size > 0) || others.length === 0) {
          // Similar: another example of one of its labels (itself when it is its label's only one).
          // An example without labels (multi-label data) has none: all its pairs are dissimilar.
          const mates = byLabel.get(pick(labelsOf[i]!))!;
          const j = mates.length > 1 ? pick(mates.filter((x) => x !== i)) : i;
          epochPairs.push([i, j, 1]);
        } else {
          // Dissimilar: one of the labels it does not have, then one of that label's examples
          // that shares none of its labels (multi-label data).
          const candidates = byLabel.get(pick(others))!.filter((x) => !labelsOf[x]!.some((l) => own.has(l)));
          if (candidates.length === 0) epochPairs.push([i, i, 1]);
          else epochPairs.push([i, pick(candidates), 0]);
        }
      }
    }
    for (let a = epochPairs.length - 1; a > 0; a--) {
      const b = rng.int(a + 1);
      [epochPairs[a], epochPairs[b]] = [epochPairs[b]!, epochPairs[a]!];
    }
    for (const [a, b, y] of epochPairs) {
      pairs[2 * k] = a;
      pairs[2 * k + 1] = b;
      similar[k++] = y;
    }
  }
  return { pairs, similar };
}

/** "card_arrival" → "card arrival"; "getExchangeRate" → "get exchange rate"; a path's parts joined. */
export function labelName(label: string, separator: string | null): string {
  const parts = separator ? label.split(separator) : [label];
  return parts
    .map((p) =>
      p
        .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
        .replace(/[_\-.]+/g, " ")
        .trim()
        .toLowerCase(),
    )
    .join(" ");
}

/** The text standing for each label of each sequence head: its description when given (by the
 * label or, in a hierarchy, by the node's last part), else its name. */
export function labelTexts(plan: HeadPlan, descriptions: Record<string, string> | null): Record<string, string[]> {
  const sep = plan.hierarchy?.separator ?? null;
  const out: Record<string, string[]> = {};
  for (const h of plan.heads) {
    if ((h.level ?? "sequence") !== "sequence") continue;
    out[h.name] = h.labels.map((l) => {
      const last = sep ? l.split(sep).at(-1)! : l;
      const d = descriptions?.[l] ?? descriptions?.[last];
      return d ?? labelName(l, sep);
    });
  }
  return out;
}

/** Descriptions naming labels the data does not have: a typo, said before training. */
export function unknownDescriptions(descriptions: Record<string, string> | null, plan: HeadPlan): string[] {
  if (!descriptions) return [];
  const sep = plan.hierarchy?.separator ?? null;
  const known = new Set(plan.heads.flatMap((h) => h.labels.flatMap((l) => [l, sep ? l.split(sep).at(-1)! : l])));
  return Object.keys(descriptions).filter((k) => !known.has(k));
}
