// Augmentation, the follow-up of a classifier run (augment.enabled): the run just trained is the
// run without it. A generative model writes new examples (rewrites of each training example, new
// examples of each label), the filters drop what would mislead (unusable, too close to a
// validation/test text, duplicates, confidently another label by that run), a second run trains
// with what is left, and the better validation score decides which run is kept. Every step saves
// its result in the first run's augment/ folder, so an interrupted augmentation goes on from there.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ResolvedAugment, ResolvedConfig } from "../config/resolved.js";
import type { Example } from "../data/load.js";
import { loadDataset } from "../data/dataset.js";
import { predictClassifier } from "../predict/predict.js";
import { runtimeSpec } from "../predict/logits.js";
import type { FollowUp, RunContext, TrainOptions, TrainResult, FollowUpTools } from "../run/types.js";
import { HoneError } from "../util/errors.js";
import { sha256, writeFileAtomic, writeJsonAtomic } from "../util/fs.js";
import { generateAll, openGenerator } from "./generator.js";
import { augmentPrompts, readGenerated, type AugmentPrompt } from "./prompts.js";
import { NearIndex } from "./similar.js";
import type { AugmentCounts, AugmentSummary } from "./types.js";

/** How the classifier family names its labels and reads its metrics. */
export interface AugmentHooks {
  /** A label's words for prompts: its description (or name), and its name. */
  describe(cfg: ResolvedConfig): { description: (label: string) => string; name: (label: string) => string };
  /** The run's config for the run with generated examples (same method, same splits). */
  childConfig(parent: RunContext, generated: string): ResolvedConfig;
  /** A validation score of a metrics object. */
  score(m: TrainResult["validation"], metric: string): number | null;
}

type Dropped = "unusable" | "leakage" | "duplicate_of_train" | "duplicate_of_generated" | "other_label" | "low_confidence";

export interface Candidate {
  index: number;
  kind: AugmentPrompt["kind"];
  labels: string[];
  of: string | null;
  prompt: string;
  generation: string;
  text: string | null;
  dropped: Dropped | null;
  /** What it was too close to, and how close (Jaccard of character trigrams). */
  near?: { text: string; similarity: number };
  /** For other_label and low_confidence: what the run without it predicted. */
  predicted?: { label: string; score: number };
}

interface State {
  /** The run with generated examples, once created. */
  child?: string;
}

const augmentDir = (c: RunContext) => join(c.run.run_dir, "augment");

export function augmentFollowUp(hooks: AugmentHooks): FollowUp {
  return {
    pending: (run, cfg) => cfg.augment?.enabled === true && !existsSync(join(run.run_dir, "augment", "summary.json")),
    run: (c, result, opts, tools) => augment(hooks, c, result, opts, tools),
  };
}

async function augment(hooks: AugmentHooks, c: RunContext, base: TrainResult, opts: TrainOptions, tools: FollowUpTools): Promise<TrainResult> {
  const a = c.cfg.augment!;
  const dir = augmentDir(c);
  mkdirSync(join(dir, "chunks"), { recursive: true });
  const stateFile = join(dir, "state.json");
  const state: State = existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, "utf8")) as State) : {};
  const save = () => writeJsonAtomic(stateFile, state);

  // ---- ask: the prompts, in a fixed order ----
  const data = loadDataset({ ...c.cfg, data: { ...c.cfg.data, generated: null } });
  const words = hooks.describe(c.cfg);
  const prompts = augmentPrompts(data.train, data.labels, a, words.description, words.name);
  const generator = await openGenerator(a.model, c.store, tools.openRun);

  // ---- write: chunk by chunk, each saved whole ----
  c.update({ kind: "phase", text: `augmenting: ${prompts.length} examples asked of ${a.model}` });
  const { texts: generations, seconds } = await generateAll(
    generator,
    prompts.map((p) => p.prompt),
    a,
    runtimeSpec(c.cfg),
    join(dir, "chunks"),
    (p) =>
      c.update({
        kind: "phase",
        text: `generating examples: ${p.done}/${p.total} (${p.rate.toFixed(1)}/s, about ${Math.ceil(p.etaSeconds)} s left)`,
      }),
    opts.signal,
  );

  // ---- filter: each dropped example counted once, under the first reason ----
  const candidates = screen(prompts, generations, data, a.near_duplicate);
  const survivors = candidates.filter((x) => x.dropped === null);
  c.update({ kind: "phase", text: `checking ${survivors.length} generated examples with run ${c.run.id}` });
  const predictions = await predictClassifier(
    c.store,
    c.run,
    survivors.map((x) => x.text!),
    { topK: 1 },
  );
  judge(
    survivors,
    predictions.map((p) => p.top[0]),
    a,
  );

  const keptExamples = candidates.filter((x) => x.dropped === null);
  const files = { generated: join(dir, "generated.jsonl"), kept: join(dir, "kept.jsonl"), provenance: join(dir, "provenance.json") };
  writeFileAtomic(files.generated, lines(candidates));
  writeFileAtomic(files.kept, lines(keptExamples.map((x) => ({ text: x.text, labels: x.labels }))));
  const counts = countOf(candidates);
  writeJsonAtomic(files.provenance, {
    model: a.model,
    source: generator.source,
    prompts: a.prompts,
    sampling: { temperature: a.temperature, top_p: a.top_p, max_new_tokens: a.max_new_tokens, seed: a.seed, chunk: a.chunk, batch_size: a.batch_size },
    asked: { paraphrases: a.paraphrases, per_label: a.per_label, examples_in_prompt: a.examples_in_prompt },
    filters: { near_duplicate: a.near_duplicate, reject_confidence: a.reject_confidence, min_confidence: a.min_confidence, judged_by: c.run.id },
    data_hash: c.run.data_hash,
    prompts_sha256: sha256(JSON.stringify(prompts)),
    counts,
  });

  // ---- train again with them, and keep the better run ----
  const metric = c.cfg.train.early_stopping.metric;
  const original = { run: c.run.id, validation: hooks.score(base.validation, metric), test: hooks.score(base.test, metric) };
  let augmented: TrainResult | null = null;
  if (keptExamples.length > 0) {
    if (state.child) {
      const child = c.store.findRun(state.child);
      augmented = child.status === "completed" ? tools.finished(c.store, child.id) : await tools.train({ ...childOpts(opts), resume: child.id });
    } else {
      c.update({ kind: "phase", text: `training again with ${keptExamples.length} generated examples` });
      augmented = await tools.train({
        ...childOpts(opts),
        resolved: hooks.childConfig(c, files.kept),
        onUpdate: (u) => {
          if (u.kind === "run" && !state.child) {
            state.child = u.run.id;
            save();
            c.store.addLineage(u.run.id, c.run.id, "augmented-from");
          }
          opts.onUpdate?.(u);
        },
      });
    }
  }
  const summary = decide(
    a.keep,
    metric,
    original,
    augmented,
    hooks,
    counts,
    candidates,
    files,
    {
      model: a.model,
      seconds,
      examples_per_second: prompts.length / Math.max(1e-3, seconds),
    },
    { near_duplicate: a.near_duplicate, reject_confidence: a.reject_confidence, min_confidence: a.min_confidence },
  );
  writeFileAtomic(join(c.paths.report, "augment.md"), renderAugment(summary));
  writeJsonAtomic(join(c.paths.report, "augment.json"), summary);
  if (augmented) {
    writeJsonAtomic(join(augmented.run.run_dir, "report", "augment.json"), summary);
    writeFileAtomic(join(augmented.run.run_dir, "report", "augment.md"), renderAugment(summary));
  }
  // Written last: its presence says the augmentation is over.
  writeJsonAtomic(join(dir, "summary.json"), summary);
  const winner = summary.kept === "augmented" && augmented ? augmented : { ...base, run: c.store.getRun(c.run.id) };
  return { ...winner, augment: summary };
}

/** The filters that need no model: unusable, too close to a validation/test text (leakage),
 * the same as a training example, the same as an earlier generated one (in prompt order). */
export function screen(
  prompts: AugmentPrompt[],
  generations: string[],
  data: { train: Example[]; validation: Example[]; test: Example[] },
  nearDuplicate: number,
): Candidate[] {
  const longest = Math.max(...data.train.map((e) => Array.from(e.text).length));
  const heldOut = new NearIndex<string>();
  for (const e of [...data.validation, ...data.test]) heldOut.add(e.text, e.text);
  const seen = new NearIndex<string>();
  for (const e of data.train) seen.add(e.text, e.text);
  const kept = new NearIndex<string>();
  return prompts.map((p, i) => {
    const text = readGenerated(generations[i]!, Math.max(200, 3 * longest));
    const cand: Candidate = { index: i, kind: p.kind, labels: p.labels, of: p.of, prompt: p.prompt, generation: generations[i]!, text, dropped: null };
    if (text === null) return { ...cand, dropped: "unusable" };
    const leak = heldOut.closest(text, nearDuplicate);
    if (leak) return { ...cand, dropped: "leakage", near: { text: leak.value, similarity: leak.similarity } };
    const dup = seen.closest(text, nearDuplicate);
    if (dup) return { ...cand, dropped: "duplicate_of_train", near: { text: dup.value, similarity: dup.similarity } };
    const again = kept.closest(text, nearDuplicate);
    if (again) return { ...cand, dropped: "duplicate_of_generated", near: { text: again.value, similarity: again.similarity } };
    kept.add(text, text);
    return cand;
  });
}

/** The options of the run with generated examples: the same store, display and interruption. */
function childOpts(opts: TrainOptions): TrainOptions {
  return { store: opts.store, onUpdate: opts.onUpdate, signal: opts.signal, env: opts.env, evaluateTest: opts.evaluateTest };
}

/** The screen by the run trained without them, on the examples that passed the text filters: one
 * confidently read as another label is dropped (other_label); with min_confidence > 0, so is one
 * whose own label the run does not rank first with that probability (low_confidence). */
export function judge(
  survivors: Pick<Candidate, "labels" | "dropped" | "predicted">[],
  tops: ({ label: string; score: number } | undefined)[],
  a: Pick<ResolvedAugment, "reject_confidence" | "min_confidence">,
): void {
  survivors.forEach((x, i) => {
    const top = tops[i];
    if (!top) return;
    const own = x.labels.includes(top.label);
    if (!own && top.score >= a.reject_confidence) x.dropped = "other_label";
    else if (a.min_confidence > 0 && !(own && top.score >= a.min_confidence)) x.dropped = "low_confidence";
    if (x.dropped) x.predicted = { label: top.label, score: top.score };
  });
}

const lines = (rows: unknown[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join("");

function countOf(candidates: Candidate[]): AugmentCounts {
  const n = (d: Dropped | null) => candidates.filter((x) => x.dropped === d).length;
  return {
    asked: candidates.length,
    unusable: n("unusable"),
    leakage: n("leakage"),
    duplicate_of_train: n("duplicate_of_train"),
    duplicate_of_generated: n("duplicate_of_generated"),
    other_label: n("other_label"),
    low_confidence: n("low_confidence"),
    kept: n(null),
  };
}

function decide(
  keep: "if_better" | "always",
  metric: string,
  original: AugmentSummary["original"],
  augmented: TrainResult | null,
  hooks: AugmentHooks,
  counts: AugmentCounts,
  candidates: Candidate[],
  files: AugmentSummary["files"],
  generation: AugmentSummary["generation"],
  filters: AugmentSummary["filters"],
): AugmentSummary {
  const aug = augmented ? { run: augmented.run.id, validation: hooks.score(augmented.validation, metric), test: hooks.score(augmented.test, metric) } : null;
  const lower = metric === "loss";
  let kept: AugmentSummary["kept"] = "original";
  let reason: string;
  if (!aug) reason = "no generated example passed the filters";
  else if (keep === "always") {
    kept = "augmented";
    reason = "augment.keep: always";
  } else if (aug.validation === null || original.validation === null) reason = "no validation score to compare";
  else if (lower ? aug.validation < original.validation : aug.validation > original.validation) {
    kept = "augmented";
    reason = `validation ${metric} ${fmt(aug.validation)} with them, ${fmt(original.validation)} without`;
  } else reason = `validation ${metric} ${fmt(aug.validation)} with them, not better than ${fmt(original.validation)} without`;
  const byKind = (k: AugmentPrompt["kind"]) => ({
    asked: candidates.filter((x) => x.kind === k).length,
    kept: candidates.filter((x) => x.kind === k && x.dropped === null).length,
  });
  return {
    kept,
    reason,
    metric,
    original,
    augmented: aug,
    counts,
    by_kind: { paraphrase: byKind("paraphrase"), new: byKind("new") },
    generation,
    files,
    filters,
  };
}

const fmt = (x: number | null) => (x === null ? "-" : x.toFixed(4));

/** The report's page: both runs' scores, what was kept, and where each generated example went. */
export function renderAugment(s: AugmentSummary): string {
  const c = s.counts;
  const row = (name: string, r: { run: string; validation: number | null; test: number | null } | null) =>
    `| ${name}${s.kept === name.split(" ")[0] ? " (kept)" : ""} | ${r ? r.run : "-"} | ${fmt(r?.validation ?? null)} | ${fmt(r?.test ?? null)} |`;
  return [
    "# Augmentation",
    "",
    `Kept: **${s.kept}** (${s.reason}).`,
    "",
    `| run | id | validation ${s.metric} | test ${s.metric} |`,
    "|---|---|---:|---:|",
    row("original (without generated examples)", s.original),
    row("augmented (with them)", s.augmented),
    "",
    `Generated by ${s.generation.model}: ${c.asked} asked in ${s.generation.seconds.toFixed(1)} s (${s.generation.examples_per_second.toFixed(1)} examples/s).`,
    "",
    "| what happened to them | examples |",
    "|---|---:|",
    `| nothing usable came back | ${c.unusable} |`,
    `| too close to a validation or test text (leakage) | ${c.leakage} |`,
    `| the same as a training example | ${c.duplicate_of_train} |`,
    `| the same as another generated example | ${c.duplicate_of_generated} |`,
    `| confidently another label for the original run | ${c.other_label} |`,
    ...(s.filters?.min_confidence ? [`| own label not ranked first with ${s.filters.min_confidence} or more by the original run | ${c.low_confidence} |`] : []),
    `| **kept** | **${c.kept}** (rewrites ${s.by_kind.paraphrase.kept} of ${s.by_kind.paraphrase.asked}, new ${s.by_kind.new.kept} of ${s.by_kind.new.asked}) |`,
    "",
    `Every generated example, with its prompt and why it was dropped: ${s.files.generated}; the writer, prompts and seed: ${s.files.provenance}.`,
    "",
  ].join("\n");
}

/** Checked with the data, before the run exists: what augmentation needs. */
export function checkAugment(cfg: ResolvedConfig, counts: { validation: number }, method: string | undefined): void {
  const a = cfg.augment;
  if (!a?.enabled) return;
  const fail = (path: string[], message: string, hint: string) => {
    throw new HoneError("config", "augmentation cannot run with these settings", [{ path, message, hint }]);
  };
  if (a.keep === "if_better" && counts.validation === 0)
    fail(
      ["augment", "keep"],
      "if_better compares validation scores, and this run has no validation split",
      "give data.validation or data.split.validation, or set augment.keep: always",
    );
  if (method === "zeroshot") fail(["fewshot", "method"], "a zero-shot run trains on no examples, generated or not", "use fewshot.method: fewshot or finetune");
  if ((cfg.data.tasks ?? []).length > 0) fail(["data", "tasks"], "generated examples have no labels for the extra tasks", "augment a run without data.tasks");
  if (a.paraphrases === 0 && a.per_label === 0)
    fail(["augment", "paraphrases"], "nothing is asked (paraphrases and per_label are 0)", "ask for at least one kind");
}
