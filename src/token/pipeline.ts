// Token tasks (entities, slots, joint intent + slots): a token head (and an intent head) on an
// encoder, trained by the engine's classify.train job. The plug-in's steps: read and check the
// data -> align word pieces to words -> shards with a tag per word's first piece -> the engine
// -> each evaluation's token logits decoded into entities (constrained to the scheme) -> scores.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { headSpecs } from "../classifier/heads.js";
import { trainsInOneProcess, planTraining, type TaskConfigHooks } from "../config/resolve.js";
import { storedConfig } from "../config/resolved.js";
import { sha256 } from "../util/fs.js";
import { encoderTrainJob, predictShard } from "../predict/logits.js";
import type { ClassifyTrainJob, TokenShard } from "../protocol/schema.js";
import { runPaths } from "../run/artifacts.js";
import { promoteBestWeights, stepDir, weightsBytes } from "../run/checkpoints.js";
import type { PlanBase, TaskPlugin } from "../run/types.js";
import type { RunStore, RunRecord } from "../store/store.js";
import { HoneError } from "../util/errors.js";
import { writeJsonAtomic } from "../util/fs.js";
import { WordAligner } from "./align.js";
import { dataWarnings, loadTokenData, planModel, tokenSource } from "./data.js";
import { encodeSplit, logitsOf, predictExamples, scoreSplit, type SplitGold } from "./encode.js";
import { readTokenSource } from "./formats.js";
import { tokenScalars, type TokenMetrics } from "./metrics.js";
import type { Scheme } from "./tags.js";
import { headsFileOf, INTENT_HEAD, readTokenModel, TAG_HEAD, tokenHeads } from "./model.js";
import { predictTokens, tokenBundle } from "./predict.js";
import { inspectTokenData, renderTokenMetrics } from "./render.js";

const MODEL_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "merges.txt", "vocab.json"];

export interface TokenPlan extends PlanBase {
  labels: string[];
  scheme: Scheme;
  intents: string[] | null;
}

export interface TokenFiles {
  shards: { train: TokenShard; validation: TokenShard | null; test: TokenShard | null };
  gold: { validation: SplitGold | null; test: SplitGold | null };
}

export const tokenConfig: TaskConfigHooks = {
  model: "encoder",
  defaultModel: "all-minilm-l6-v2",
  // Sentences are longer than classifier texts once split into pieces; dynamic padding costs nothing.
  defaultMaxLength: 256,
  defaultLr: (hidden) => (hidden <= 384 ? 1e-4 : hidden <= 768 ? 5e-5 : 2e-5),
  selection: { allowed: ["f1", "macro_f1", "tag_accuracy", "intent_accuracy", "exact_match", "loss"], auto: () => "f1" },
  section: (c) => ({ token: { ...c.token, fields: { ...c.token.fields } } }),
  check(c) {
    trainsInOneProcess(c);
  },
};

function weightsOf(run: RunRecord): string {
  const w = join(runPaths(run.run_dir).model, "model.safetensors");
  if (!existsSync(w))
    throw new HoneError("usage", `run ${run.id} has no trained model (status: ${run.status})`, [
      {
        message: "predict and eval need a completed run",
        hint: run.status === "interrupted" ? `finish it with: hone train --resume ${run.id}` : "train one with: hone train",
      },
    ]);
  return w;
}

export const tokenTask: TaskPlugin<TokenPlan, TokenFiles, TokenMetrics> = {
  name: "token_classify",
  summary: "entities or slots: a tag per word (IO/BIO/BIOES), with an intent per sentence when the data has one (joint intent + slots)",
  config: tokenConfig,
  serves: "classify",
  generates: false,

  async stage(cfg, { update }) {
    const data = loadTokenData(cfg);
    const m = planModel(cfg, data.train);
    for (const w of dataWarnings(m, data)) update({ kind: "warning", text: w });
    const base = planTraining(cfg, m.tags, { train: data.train.length, validation: data.validation.length, test: data.test.length });
    const plan: TokenPlan = { ...base, scheme: m.scheme, intents: m.intents };
    const hash = sha256(JSON.stringify([data.train, data.validation, data.test].map((s) => s.map((e) => [e.text, e.words, e.entities, e.intent]))));
    return {
      plan,
      dataHash: hash,
      parents: [],
      async write(paths) {
        mkdirSync(paths.model, { recursive: true });
        for (const f of MODEL_FILES) if (existsSync(join(cfg.model.dir, f))) copyFileSync(join(cfg.model.dir, f), join(paths.model, f));
        writeJsonAtomic(join(paths.model, "token.json"), m);
        writeJsonAtomic(join(paths.model, "heads.json"), headsFileOf(m, cfg.token!.intent_weight));
        update({ kind: "phase", text: `aligning word pieces of ${plan.counts.train + plan.counts.validation + plan.counts.test} sentences` });
        const aligner = new WordAligner(cfg.model.dir, cfg.data.max_length);
        const enc = async (split: "train" | "validation" | "test") => {
          if (data[split].length === 0) return null;
          const r = await encodeSplit(m, aligner, data[split], paths.data, split, true);
          if (r.cut > 0)
            update({
              kind: "warning",
              text: `${r.cut} ${split} sentence(s) longer than max_length ${cfg.data.max_length} pieces: their last words are cut off (predicted O)`,
            });
          if (r.unread.length > 0)
            update({
              kind: "warning",
              text: `${r.unread.length} ${split} word(s) the tokenizer reads as nothing (e.g. ${JSON.stringify(r.unread[0]!.word)} at ${r.unread[0]!.origin}): they are predicted O`,
            });
          return r;
        };
        const train = (await enc("train"))!;
        const validation = await enc("validation");
        const test = await enc("test");
        return {
          shards: { train: train.shard, validation: validation?.shard ?? null, test: test?.shard ?? null },
          gold: { validation: validation?.gold ?? null, test: test?.gold ?? null },
        };
      },
    };
  },

  trainJob(c, resume): ClassifyTrainJob {
    const m = readTokenModel(c.paths.model);
    return encoderTrainJob(c, resume, {
      heads: headSpecs({ heads: tokenHeads(m, c.cfg.token!.intent_weight) }, c.cfg.train.label_smoothing),
      couplings: [],
      data: { train: c.files.shards.train, validation: c.files.shards.validation },
    });
  },

  judge({ files, paths }, ev, metric) {
    const m = readTokenModel(paths.model);
    const l = logitsOf(m, ev.logits, files.shards.validation!);
    const { metrics } = scoreSplit(m, files.gold.validation!, l.tags, l.intents, ev.loss);
    const values = tokenScalars(metrics);
    return { value: metric === "loss" ? (ev.loss ?? Number.NaN) : (values[metric] ?? Number.NaN), values: { ...values, engine_loss: ev.loss } };
  },

  trainSeries: (ev) => ({ loss: ev.loss, lr: ev.lr, grad_norm: ev.grad_norm, samples_per_s: ev.samples_per_s }),

  async finalise({ cfg, store, run, files, paths, update }, bestStep, evaluateTest) {
    const m = readTokenModel(paths.model);
    const finalWeights = await promoteBestWeights(store, run.id, paths, bestStep);
    let validation: TokenMetrics | null = null;
    const evalDir = stepDir(paths.evals, bestStep);
    const tagFile = join(evalDir, `${TAG_HEAD}.logits.f32`);
    if (files.shards.validation && existsSync(tagFile)) {
      const l = logitsOf(m, { [TAG_HEAD]: tagFile, [INTENT_HEAD]: join(evalDir, `${INTENT_HEAD}.logits.f32`) }, files.shards.validation);
      validation = scoreSplit(m, files.gold.validation!, l.tags, l.intents, null).metrics;
    }
    let test: TokenMetrics | null = null;
    if (files.shards.test && evaluateTest) {
      update({ kind: "phase", text: `evaluating step ${bestStep} on the test split (${files.shards.test.count} sentences)` });
      const out = await predictShard({
        cfg,
        plan: { heads: tokenHeads(m, cfg.token!.intent_weight) },
        modelDir: paths.model,
        weights: finalWeights,
        shard: files.shards.test,
        outDir: join(run.run_dir, "predictions", "test"),
      });
      test = scoreSplit(m, files.gold.test!, out.logits[TAG_HEAD]!, out.logits[INTENT_HEAD] ?? null, null).metrics;
    }
    return { validation, test };
  },

  scalars: tokenScalars,

  async evaluate(_store: RunStore, run: RunRecord, opts) {
    const cfg = storedConfig(run.id, run.config);
    weightsOf(run);
    if (!opts.data) {
      const file = join(runPaths(run.run_dir).report, "metrics.test.json");
      if (!existsSync(file))
        throw new HoneError("usage", `run ${run.id} has no test split`, [
          { message: "its data had no test file and split.test was 0", hint: `evaluate on a file: hone eval ${run.id} --data FILE` },
        ]);
      return { metrics: JSON.parse(readFileSync(file, "utf8")) as TokenMetrics, source: "test split (evaluated once, after training)" };
    }
    const src = {
      path: opts.data,
      format: "auto" as const,
      pointer: null,
      text: opts.text ?? cfg.data.train!.text,
      label: opts.label ?? cfg.data.train!.label,
    };
    const examples = readTokenSource(tokenSource(cfg, src));
    const p = await predictExamples(cfg, runPaths(run.run_dir).model, examples, true);
    return { metrics: scoreSplit(p.m, p.gold, p.tagRows, p.intentRows, null).metrics, source: opts.data };
  },

  predict: predictTokens,
  bundle: tokenBundle,
  renderMetrics: renderTokenMetrics,
  headline: (t) => (typeof t?.f1 === "number" ? `F1 ${(t.f1 * 100).toFixed(2)}` : ""),
  curveMetric: () => "f1",
  modelBytes: (run) => weightsBytes(runPaths(run.run_dir).model),
  inspect: inspectTokenData,
};
