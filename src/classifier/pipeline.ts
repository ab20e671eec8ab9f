// Encoder classifiers (task classify and hierarchical): heads on one encoder. The plug-in's
// steps: read and check the data -> plan the heads -> tokenize to shards -> the engine's
// classify.train job -> metrics of each evaluation from its logits -> the best checkpoint as the
// model, decoding tuned on validation, the test split once.
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { augmentFollowUp, checkAugment, type AugmentHooks } from "../augment/augment.js";
import { findGenerator } from "../augment/generator.js";
import { catalogEntry } from "../models/catalog.js";
import { planTraining, type ResolvedConfig, type TaskConfigHooks, type TrainingPlan } from "../config/resolve.js";
import { storedConfig } from "../config/resolved.js";
import { loadDataset } from "../data/dataset.js";
import { labelVariantWarnings, type QualityReport } from "../data/quality.js";
import { metricValue, type SelectMetric } from "../metrics/classification.js";
import { encoderTrainJob, predictShard } from "../predict/logits.js";
import { evaluateClassifier, predictClassifier } from "../predict/predict.js";
import type { ClassifyTrainJob, TokenShard } from "../protocol/schema.js";
import { runPaths } from "../run/artifacts.js";
import { promoteBestWeights, stepDir, weightsBytes } from "../run/checkpoints.js";
import type { TaskPlugin } from "../run/types.js";
import { loadTokenizer } from "../tokenize/tokenizer.js";
import { writeShard } from "../tokenize/shards.js";
import { HoneError } from "../util/errors.js";
import { writeFileAtomic, writeJsonAtomic } from "../util/fs.js";
import { decideMethod, fewShotOf, headInit, labelName, labelTexts, resolveFewShot, samplePairs, unknownDescriptions, type Method } from "./fewshot.js";
import { computeMetrics, readHeadLogits, scalarMetrics, tuneDecoding, type RunMetrics, type Targets } from "./evaluate.js";
import { classifierBundle } from "./bundle.js";
import { balancedWeights, type ClassWeights, couplings, headsFile, headSpecs, loadHeads, mainTargets, planHeads, shardHeads, taskTargets } from "./heads.js";
import { inspectClassifierData, renderClassifierMetrics } from "./render.js";

const MODEL_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "merges.txt", "vocab.json"];

export interface ClassifierFiles {
  labels: string[];
  shards: { train: TokenShard; validation: TokenShard | null; test: TokenShard | null };
  targets: { validation: Targets; test: Targets };
  /** Weights the run started from (init_from), kept so that a resume starts the same way. */
  initFrom: { weights: string; heads: boolean } | null;
  /** A few-shot run's pairs (absent in runs made before few-shot). */
  contrastive?: { pairs: string; similar: string; count: number } | null;
  /** Per sequence head, a shard of one text per label (a head that starts from the labels). */
  labelTexts?: Record<string, TokenShard> | null;
  /** Loss weights of train.class_weight: balanced, from the training targets (absent before it existed). */
  classWeights?: ClassWeights | null;
}

function qualityWarnings(q: QualityReport): string[] {
  const w: string[] = [];
  for (const d of q.duplicates) w.push(`${d.count} duplicate text(s) in ${d.split} (e.g. ${d.examples[0]!.join(" = ")})`);
  if (q.conflicts.length > 0) w.push(`${q.conflicts.length} text(s) appear with different labels (e.g. ${q.conflicts[0]!.origins.join(", ")})`);
  for (const l of q.leakage) w.push(`${l.count} ${l.to} text(s) also occur in train: ${l.to} scores will be optimistic (e.g. ${l.examples[0]})`);
  w.push(...labelVariantWarnings(q));
  return w;
}

/** Hooks every classifier task shares: an encoder, 128 tokens, accuracy (or micro F1) picks the
 * best, the fewshot section. */
export const classifierConfig: Omit<TaskConfigHooks, "check"> = {
  model: "encoder",
  defaultModel: "all-minilm-l6-v2",
  defaultMaxLength: 128,
  defaultLr: (hidden) => (hidden <= 384 ? 1e-4 : hidden <= 768 ? 5e-5 : 2e-5),
  selection: { allowed: ["accuracy", "macro_f1", "micro_f1", "weighted_f1", "loss"], auto: (c) => (c.data.multi_label ? "micro_f1" : "accuracy") },
  // Zero-shot reads its classes off fewshot.descriptions (loadDataset): examples are for evaluation only.
  withoutTrain: (c) => c.fewshot.method === "zeroshot" && c.fewshot.descriptions !== null,
  section: (c, { baseDir, device }) => ({
    fewshot: resolveFewShot(c, baseDir),
    augment: {
      ...c.augment,
      model: writerRef(c.augment.model, baseDir),
      batch_size: c.augment.batch_size === "auto" ? (device === "cuda" ? 256 : 32) : c.augment.batch_size,
    },
  }),
};

/** augment.model as resolved: a catalog name as it is, a folder as an absolute path, else a run. */
function writerRef(ref: string, baseDir: string): string {
  if (catalogEntry(ref)) return ref;
  const path = resolve(baseDir, ref);
  return existsSync(path) ? path : ref;
}

/** What augmentation asks of the classifier family. */
const augmentHooks: AugmentHooks = {
  describe(cfg) {
    const sep = cfg.hierarchy?.separator ?? null;
    const d = fewShotOf(cfg).descriptions;
    return {
      name: (label) => labelName(label, sep),
      description: (label) => d?.[label] ?? d?.[sep ? label.split(sep).at(-1)! : label] ?? labelName(label, sep),
    };
  },
  childConfig(parent, generated) {
    const cfg = parent.cfg;
    // The same method as the run without them: more examples must not switch few-shot off.
    const method = (parent.plan as ClassifierPlan).method ?? "finetune";
    return {
      ...cfg,
      name: `${cfg.name ?? parent.run.id}-augmented`,
      data: { ...cfg.data, generated },
      augment: { ...cfg.augment!, enabled: false },
      fewshot: { ...fewShotOf(cfg), method },
    };
  },
  score: (m, metric) => (m ? (scalarMetrics(m as RunMetrics)[metric] ?? null) : null),
};

/** A classifier's plan: the training plan, the method and its contrastive stage (absent in runs
 * made before few-shot: finetune). */
export interface ClassifierPlan extends TrainingPlan {
  method?: Method;
  method_reason?: string;
  head_init?: "random" | "prototypes" | "labels";
  pairs?: number;
  pre_steps?: number;
}

/** The training plan of a method: a contrastive stage's steps come first; zero-shot trains nothing. */
function methodPlan(cfg: ResolvedConfig, base: TrainingPlan, method: Method, reason: string): ClassifierPlan {
  const f = fewShotOf(cfg);
  const init = headInit(f, method);
  if (method === "zeroshot")
    return { ...base, total_steps: 0, warmup_steps: 0, eval_every_steps: 1, method, method_reason: reason, head_init: init, pairs: 0, pre_steps: 0 };
  if (method === "finetune") return { ...base, method, method_reason: reason, head_init: init, pairs: 0, pre_steps: 0 };
  const pairs = base.counts.train * f.pairs_per_example * f.epochs;
  // train.max_steps caps each stage: a short run (a smoke test) is short in both.
  const pre = Math.min(Math.ceil(pairs / f.batch_size), cfg.train.max_steps ?? Number.POSITIVE_INFINITY);
  return { ...base, total_steps: pre + base.total_steps, method, method_reason: reason, head_init: init, pairs, pre_steps: pre };
}

/** A classifier task's plug-in; `config` adds the task's own checks and config section. (Long: an
 * object of the plug-in's short steps, each read on its own.) */
export function classifierTask(name: string, summary: string, config: TaskConfigHooks): TaskPlugin<ClassifierPlan, ClassifierFiles, RunMetrics> {
  return {
    name,
    summary,
    config,
    serves: "classify",
    generates: false,
    followUp: augmentFollowUp(augmentHooks),

    async stage(cfg, { store, update }) {
      const dataset = loadDataset(cfg);
      for (const w of [...qualityWarnings(dataset.quality), ...dataset.notes]) update({ kind: "warning", text: w });
      const heads = planHeads(cfg, dataset.labels, dataset.taskLabels);
      const f = fewShotOf(cfg);
      const { method, reason } = decideMethod(f, dataset.train, dataset.labels);
      const counts = { train: dataset.train.length, validation: dataset.validation.length, test: dataset.test.length };
      const plan = methodPlan(cfg, planTraining(cfg, heads.labels, counts), method, reason);
      if (method !== "finetune" || f.method === "auto") update({ kind: "phase", text: `method ${method}: ${reason}` });
      checkAugment(cfg, counts, method);
      if (cfg.augment?.enabled) findGenerator(cfg.augment.model, store);
      for (const k of unknownDescriptions(f.descriptions, heads))
        update({ kind: "warning", text: `fewshot.descriptions names "${k}", a label the training data does not have` });
      let initFrom: ClassifierFiles["initFrom"] = null;
      const parents: { id: string; relation: string }[] = [];
      if (cfg.model.init_from) {
        const parent = store.findRun(cfg.model.init_from);
        const weights = join(runPaths(parent.run_dir).model, "model.safetensors");
        if (!existsSync(weights))
          throw new HoneError("usage", `run ${parent.id} has no final model to start from`, [
            { message: `missing ${weights}`, hint: "init_from needs a completed run" },
          ]);
        // Same heads with the same labels: keep the trained heads too; otherwise they start fresh.
        const parentHeads = loadHeads(runPaths(parent.run_dir).model, storedConfig(parent.id, parent.config).data.multi_label).heads;
        initFrom = { weights, heads: JSON.stringify(parentHeads) === JSON.stringify(heads.heads) };
        parents.push({ id: parent.id, relation: "init_from" });
      }
      return {
        plan,
        dataHash: dataset.hash,
        parents,
        async write(paths) {
          // The run carries its own copy of the model's config and tokenizer: predict/export need nothing else.
          mkdirSync(paths.model, { recursive: true });
          for (const f of MODEL_FILES) if (existsSync(join(cfg.model.dir, f))) copyFileSync(join(cfg.model.dir, f), join(paths.model, f));
          writeJsonAtomic(join(paths.model, "labels.json"), plan.labels);
          writeJsonAtomic(join(paths.model, "heads.json"), headsFile(heads));
          update({ kind: "phase", text: `tokenizing ${plan.counts.train + plan.counts.validation + plan.counts.test} examples` });
          const tokenizer = loadTokenizer(cfg.model.dir, cfg.data.max_length);
          const shard = async (split: string, examples: typeof dataset.train) =>
            examples.length === 0 ? null : writeShard(paths.data, split, await tokenizer.encode(examples.map((e) => e.text)), shardHeads(heads, examples));
          const targets = (examples: typeof dataset.train): Targets => ({ main: mainTargets(heads, examples), tasks: taskTargets(heads, examples) });
          let contrastive: ClassifierFiles["contrastive"] = null;
          if (plan.pre_steps) {
            const sampled = samplePairs(
              dataset.train.map((e) => e.labels),
              f.pairs_per_example,
              f.epochs,
              cfg.train.seed,
            );
            // The pairs the stage's steps take (fewer than sampled when train.max_steps caps it).
            const used = Math.min(sampled.similar.length, plan.pre_steps * f.batch_size);
            const pairs = sampled.pairs.slice(0, 2 * used);
            const similar = sampled.similar.slice(0, used);
            contrastive = { pairs: join(paths.data, "contrastive.pairs.i32"), similar: join(paths.data, "contrastive.similar.f32"), count: similar.length };
            writeFileAtomic(contrastive.pairs, new Uint8Array(pairs.buffer));
            writeFileAtomic(contrastive.similar, new Uint8Array(similar.buffer));
          }
          let labelShards: ClassifierFiles["labelTexts"] = null;
          if (plan.head_init === "labels") {
            labelShards = {};
            for (const [head, texts] of Object.entries(labelTexts(heads, f.descriptions)))
              labelShards[head] = writeShard(paths.data, `labels.${head}`, await tokenizer.encode(texts), []);
          }
          return {
            labels: plan.labels,
            shards: {
              // Empty for a zero-shot run without training data: the engine reads no example of it.
              train: (await shard("train", dataset.train)) ?? writeShard(paths.data, "train", [], shardHeads(heads, [])),
              validation: await shard("validation", dataset.validation),
              test: await shard("test", dataset.test),
            },
            targets: { validation: targets(dataset.validation), test: targets(dataset.test) },
            initFrom,
            contrastive,
            labelTexts: labelShards,
            classWeights: cfg.train.class_weight === "balanced" ? balancedWeights(shardHeads(heads, dataset.train)) : null,
          };
        },
      };
    },

    upgradeFiles(files) {
      for (const split of ["validation", "test"] as const) {
        const t = files.targets[split] as Targets | number[][];
        if (Array.isArray(t)) files.targets[split] = { main: t, tasks: {} }; // runs prepared before multi-task heads
      }
      return files;
    },

    trainJob(c, resume): ClassifyTrainJob {
      const heads = loadHeads(c.paths.model, c.cfg.data.multi_label);
      const f = fewShotOf(c.cfg);
      const pairs = c.files.contrastive ?? null;
      const pre = c.plan.pre_steps ?? 0;
      const init = c.plan.head_init ?? "random";
      return encoderTrainJob(c, resume, {
        heads: headSpecs(heads, c.cfg.train.label_smoothing, c.files.classWeights ?? null),
        couplings: couplings(heads),
        data: { train: c.files.shards.train, validation: c.files.shards.validation },
        initFrom: c.files.initFrom,
        contrastive:
          pairs && pre > 0 ? { ...pairs, batch_size: f.batch_size, steps: pre, lr: f.lr, warmup_steps: Math.floor(pre * c.cfg.train.warmup_ratio) } : null,
        headInit: init === "random" ? null : { from: init, texts: init === "labels" ? (c.files.labelTexts ?? null) : null, scale: f.scale },
      });
    },

    judge({ cfg, files, paths }, ev, metric) {
      // Selection sees full decisions: tuned multi-label thresholds, but no partial paths.
      const heads = loadHeads(paths.model, cfg.data.multi_label);
      const val = { logits: readHeadLogits(heads, ev.logits, ev.count), targets: files.targets.validation };
      const m = computeMetrics(heads, val.logits, val.targets, { ...tuneDecoding(heads, null, val), hierarchy_thresholds: null });
      const values = scalarMetrics(m);
      return { value: metricValue(m, metric as SelectMetric), values: { ...values, engine_loss: ev.loss, loss: values.loss ?? ev.loss } };
    },

    trainSeries: (ev) => ({ loss: ev.loss, lr: ev.lr, grad_norm: ev.grad_norm, samples_per_s: ev.samples_per_s }),

    async finalise({ store, run, cfg, files, paths, update }, bestStep, evaluateTest) {
      const heads = loadHeads(paths.model, cfg.data.multi_label);
      const finalWeights = await promoteBestWeights(store, run.id, paths, bestStep);

      const bestEval = stepDir(paths.evals, bestStep);
      const evalFiles = Object.fromEntries(heads.heads.map((h) => [h.name, join(bestEval, `${h.name}.logits.f32`)]));
      const val =
        files.shards.validation && Object.values(evalFiles).every((f) => existsSync(f))
          ? { logits: readHeadLogits(heads, evalFiles, files.shards.validation.count), targets: files.targets.validation }
          : null;
      const decoding = tuneDecoding(heads, cfg.hierarchy?.target_precision ?? null, val);
      writeJsonAtomic(join(paths.model, "decoding.json"), {
        multi_label: cfg.data.multi_label,
        ...decoding,
        pooling: cfg.model.pooling,
        max_length: cfg.data.max_length,
      });
      const validation = val ? computeMetrics(heads, val.logits, val.targets, decoding) : null;

      let test: RunMetrics | null = null;
      if (files.shards.test && evaluateTest) {
        update({ kind: "phase", text: `evaluating step ${bestStep} on the test split (${files.shards.test.count} examples)` });
        const { logits } = await predictShard({
          cfg,
          plan: heads,
          modelDir: paths.model,
          weights: finalWeights,
          shard: files.shards.test,
          outDir: join(run.run_dir, "predictions", "test"),
        });
        test = computeMetrics(heads, logits, files.targets.test, decoding);
      }
      return { validation, test };
    },

    scalars: scalarMetrics,
    evaluate: evaluateClassifier,
    predict: predictClassifier,
    bundle: classifierBundle,
    renderMetrics: renderClassifierMetrics,
    headline: (t) => {
      const v = (t?.accuracy ?? t?.micro_f1) as number | undefined;
      return v === undefined ? "" : `${(v * 100).toFixed(2)}%`;
    },
    curveMetric: (m) => (m?.kind === "multi_label" ? "micro_f1" : "accuracy"),
    modelBytes: (run) => weightsBytes(runPaths(run.run_dir).model),
    inspect: inspectClassifierData,
  };
}
