// Extractive question answering: a span head (a start and an end logit per token) on an encoder,
// trained by the engine's classify.train job on windows of the contexts. The plug-in's steps:
// read and check SQuAD / JSONL -> windows with answer targets -> shards (+ each window's token
// offsets, binary) -> the engine -> each evaluation's span logits decoded into answers (n-best
// pairs, the best over a question's windows) -> the official SQuAD exact match and F1.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { headSpecs, type HeadDef, type HeadsFile } from "../classifier/heads.js";
import { trainsInOneProcess, planTraining, type ResolvedConfig, type TaskConfigHooks } from "../config/resolve.js";
import { storedConfig } from "../config/resolved.js";
import { lengthStats } from "../data/inspect.js";
import { splitExamples } from "../data/split.js";
import { encoderTrainJob, predictShard } from "../predict/logits.js";
import type { ClassifyTrainJob, TokenShard } from "../protocol/schema.js";
import { runPaths } from "../run/artifacts.js";
import { promoteBestWeights, stepDir, weightsBytes } from "../run/checkpoints.js";
import type { BundleDecoder, PlanBase, TaskPlugin } from "../run/types.js";
import type { RunRecord, RunStore } from "../store/store.js";
import { readLogits, writeShard } from "../tokenize/shards.js";
import { HoneError } from "../util/errors.js";
import { sha256, writeFileAtomic, writeJsonAtomic } from "../util/fs.js";
import { num, pct, table } from "../util/table.js";
import { decodeAnswers, tuneNullThreshold, type QaAnswerOut, type QaDecoding, type QaPrediction } from "./decode.js";
import { hasUnanswerable, readQaSource, type QaExample } from "./formats.js";
import { qaMetrics, qaScalars, tokenF1, type QaMetrics } from "./metrics.js";
import { QaEncoder, type QaWindow } from "./windows.js";

const MODEL_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "merges.txt", "vocab.json"];
export const SPAN_HEAD = "answer";

/** model/qa.json: how the model reads questions and answers. */
export interface QaModel extends QaDecoding {
  version: 1;
  max_length: number;
  stride: number;
  max_question_tokens: number;
}

export interface QaPlan extends PlanBase {
  labels: string[];
  windows: { train: number; validation: number; test: number };
  unanswerable: boolean;
}

/** A split's windows on disk (binary) and its questions' truth. */
export interface QaSplitFiles {
  shard: TokenShard;
  /** int32 per token of the shard: the context start and end code point, -1 outside the context. */
  offsets: string;
  /** uint32 per window: its question. */
  examples: string;
  contexts: string[];
  context_of: number[];
  answers: string[][];
}

export interface QaFiles {
  train: TokenShard;
  validation: QaSplitFiles | null;
  test: QaSplitFiles | null;
}

const heads = (): HeadDef[] => [{ name: SPAN_HEAD, labels: ["start", "end"], multi_label: false, loss_weight: 1, level: "span" }];
const headsFileQa = (): HeadsFile => ({ version: 1, task: "extractive_qa", heads: heads(), labels: ["start", "end"], hierarchy: null, tasks: [] });

export const qaConfig: TaskConfigHooks = {
  model: "encoder",
  defaultModel: "all-minilm-l6-v2",
  defaultMaxLength: 384,
  defaultLr: (hidden) => (hidden <= 384 ? 1e-4 : hidden <= 768 ? 5e-5 : 3e-5),
  selection: { allowed: ["f1", "exact_match", "loss"], auto: () => "f1" },
  section: (c) => ({ qa: { ...c.qa } }),
  check(c) {
    trainsInOneProcess(c);
  },
};

function loadQaData(cfg: ResolvedConfig) {
  const read = (s: ResolvedConfig["data"]["train"] | null) => (s ? readQaSource(s) : null);
  const train = read(cfg.data.train)!;
  const validation = read(cfg.data.validation);
  const test = read(cfg.data.test);
  if (validation && test) return { train, validation, test };
  // Held out by context, so that no paragraph is seen in training and scored after.
  const byContext = new Map<string, QaExample[]>();
  for (const e of train) byContext.set(e.context, [...(byContext.get(e.context) ?? []), e]);
  const groups = [...byContext.values()].map((g) => ({ g, labels: [] as string[] }));
  const s = cfg.data.split;
  const cut = splitExamples(groups, { validation: validation ? 0 : s.validation, test: test ? 0 : s.test }, s.seed, false);
  return {
    train: cut.train.flatMap((x) => x.g),
    validation: validation ?? cut.validation.flatMap((x) => x.g),
    test: test ?? cut.test.flatMap((x) => x.g),
  };
}

/** Refuse questions that leave no room for the context (the data doctor's max_length check). */
async function checkQuestions(enc: QaEncoder, splits: Record<string, QaExample[]>, maxQuestion: number): Promise<void> {
  const issues = [];
  for (const examples of Object.values(splits))
    for (const e of examples) {
      const n = await enc.questionLength(e.question);
      if (n > maxQuestion)
        issues.push({
          file: e.origin,
          path: ["question"],
          message: `${n} tokens, more than qa.max_question_tokens ${maxQuestion}`,
          hint: "shorten the question or raise qa.max_question_tokens",
        });
    }
  if (issues.length > 0) throw new HoneError("data", `${issues.length} question(s) are too long`, issues.slice(0, 20));
}

/** Every window of a split's questions, in order. */
async function windowsOf(enc: QaEncoder, examples: QaExample[], labelled: boolean): Promise<QaWindow[]> {
  const windows: QaWindow[] = [];
  for (const [i, e] of examples.entries()) windows.push(...(await enc.windows(e, i, labelled)));
  return windows;
}

export async function encodeQa(enc: QaEncoder, examples: QaExample[], dir: string, split: string, labelled: boolean) {
  const windows = await windowsOf(enc, examples, labelled);
  return { files: writeQaWindows(examples, windows, dir, split, labelled), windows };
}

/** A split's windows as a shard, its tokens' offsets and windows' questions beside it (binary). */
function writeQaWindows(examples: QaExample[], windows: QaWindow[], dir: string, split: string, labelled: boolean): QaSplitFiles {
  const shard = writeShard(
    dir,
    split,
    windows.map((w) => w.ids),
    labelled ? [{ name: SPAN_HEAD, numLabels: 2, multiLabel: false, targets: [], spanTargets: windows.map((w) => [w.start, w.end] as [number, number]) }] : [],
  );
  const offsets = new Int32Array(windows.reduce((n, w) => n + w.ids.length, 0) * 2).fill(-1);
  let at = 0;
  for (const w of windows)
    for (const o of w.offsets) {
      if (o) offsets.set(o, 2 * at);
      at++;
    }
  const offsetsFile = join(dir, `${split}.qa-offsets.i32`);
  const examplesFile = join(dir, `${split}.qa-examples.u32`);
  writeFileAtomic(offsetsFile, new Uint8Array(offsets.buffer));
  writeFileAtomic(examplesFile, new Uint8Array(Uint32Array.from(windows.map((w) => w.example)).buffer));
  const contexts = [...new Set(examples.map((e) => e.context))];
  const index = new Map(contexts.map((c, i) => [c, i]));
  return {
    shard,
    offsets: offsetsFile,
    examples: examplesFile,
    contexts,
    context_of: examples.map((e) => index.get(e.context)!),
    answers: examples.map((e) => e.answers.map((a) => a.text)),
  };
}

/** Windows of a split read back: each window's question and its tokens' offsets. */
function readWindows(f: QaSplitFiles): Pick<QaWindow, "example" | "offsets">[] {
  const buf = readFileSync(f.offsets);
  const offsets = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const eb = readFileSync(f.examples);
  const examples = new Uint32Array(eb.buffer.slice(eb.byteOffset, eb.byteOffset + eb.byteLength));
  const tb = readFileSync(f.shard.offsets);
  const starts = new Uint32Array(tb.buffer.slice(tb.byteOffset, tb.byteOffset + tb.byteLength));
  return Array.from(examples, (example, w) => {
    const out: ([number, number] | null)[] = [];
    for (let t = starts[w]!; t < starts[w + 1]!; t++) out.push(offsets[2 * t]! < 0 ? null : [offsets[2 * t]!, offsets[2 * t + 1]!]);
    return { example, offsets: out };
  });
}

/** Answers of a split from its span logits (rows per token of its shard). */
export function answersOf(m: QaModel, f: QaSplitFiles, rows: Float32Array[], thresholdOverride?: number | null): QaAnswerOut[] {
  const windows = readWindows(f);
  const tb = readFileSync(f.shard.offsets);
  const starts = new Uint32Array(tb.buffer.slice(tb.byteOffset, tb.byteOffset + tb.byteLength));
  const logits = (w: number) => {
    const out = new Float32Array((starts[w + 1]! - starts[w]!) * 2);
    for (let t = starts[w]!; t < starts[w + 1]!; t++) out.set(rows[t]!, 2 * (t - starts[w]!));
    return out;
  };
  const contexts = f.context_of.map((c) => ({ context: f.contexts[c]! }));
  return decodeAnswers(contexts, windows, logits, { ...m, null_threshold: thresholdOverride === undefined ? m.null_threshold : thresholdOverride });
}

function readQaModel(dir: string): QaModel {
  return JSON.parse(readFileSync(join(dir, "qa.json"), "utf8")) as QaModel;
}

const spanRows = (files: Record<string, string>, shard: TokenShard) => readLogits(files[SPAN_HEAD]!, statSync(shard.tokens).size / 4, 2);

export function renderQaMetrics(m: QaMetrics): string {
  const rows: (string | number)[][] = [
    ["exact match (official SQuAD normalisation)", pct(m.exact_match)],
    ["F1 (answer tokens)", pct(m.f1)],
  ];
  if (m.has_answer) rows.push(["answerable: exact match / F1", `${pct(m.has_answer.exact_match)} / ${pct(m.has_answer.f1)} (${m.has_answer.count})`]);
  if (m.no_answer) rows.push(["unanswerable: right abstentions", `${pct(m.no_answer.exact_match)} (${m.no_answer.count})`]);
  if (m.loss !== null) rows.push(["loss", num(m.loss)]);
  rows.push(["questions", m.count]);
  return table(["metric", "value"], rows, ["l", "r"]);
}

/** `hone predict` / the server take a question as one JSON text {"question", "context"}. */
function parseQuestions(texts: string[]): QaExample[] {
  return texts.map((t, i): QaExample => {
    let row: { question?: unknown; context?: unknown };
    try {
      row = JSON.parse(t);
    } catch {
      row = {};
    }
    if (typeof row.question !== "string" || typeof row.context !== "string")
      throw new HoneError("usage", `input ${i + 1} is not {"question": "...", "context": "..."}`, [
        {
          message: JSON.stringify(t.slice(0, 80)),
          hint: 'give JSONL rows like {"question": "who?", "context": "..."} (hone predict RUN --input q.jsonl --text-field -)',
        },
      ]);
    return { id: String(i), question: row.question, context: row.context, answers: [], origin: `input:${i + 1}` };
  });
}

const toPrediction = (a: QaAnswerOut): QaPrediction => ({ answer: a.text, start: a.start, end: a.end, score: a.score });

const encoders = new Map<string, { m: QaModel; enc: QaEncoder }>();

/** ONNX bundles in Node: the same windows and answer decoding over the graph's span logits. */
export const qaBundle: BundleDecoder = {
  files: ["heads.json", "qa.json"],
  route: "/v1/answers",
  answer: 'one answer per text (each text a JSON string {"question", "context"}): {answer, start, end, score}, code points of the context',
  sample: (files) => {
    const f = files as QaFiles;
    return f.test?.shard ?? f.validation?.shard ?? f.train;
  },
  async predict(graph, texts) {
    if (texts.length === 0) return [];
    let opened = encoders.get(graph.dir);
    if (!opened) {
      const m = readQaModel(graph.dir);
      opened = { m, enc: await QaEncoder.open(graph.dir, { maxLength: m.max_length, stride: m.stride, maxQuestion: m.max_question_tokens }) };
      encoders.set(graph.dir, opened);
    }
    const { m, enc } = opened;
    const examples = parseQuestions(texts);
    const windows: QaWindow[] = [];
    for (const [i, e] of examples.entries()) windows.push(...(await enc.windows(e, i, false)));
    const logits = await graph.logitsOfIds(windows.map((w) => w.ids));
    return decodeAnswers(examples, windows, (w) => logits[SPAN_HEAD]![w]!, m).map(toPrediction);
  },
};

export const qaTask: TaskPlugin<QaPlan, QaFiles, QaMetrics> = {
  name: "extractive_qa",
  summary: "answers as spans of a context (SQuAD 1.1 / 2.0 JSON or JSONL): start and end over the tokens, long contexts in overlapping windows",
  config: qaConfig,
  serves: "classify",
  generates: false,

  async stage(cfg, { update }) {
    const data = loadQaData(cfg);
    const q = cfg.qa!;
    const enc = await QaEncoder.open(cfg.model.dir, { maxLength: cfg.data.max_length, stride: q.stride, maxQuestion: q.max_question_tokens });
    await checkQuestions(enc, data, q.max_question_tokens);
    if (q.stride >= cfg.data.max_length - q.max_question_tokens - enc.specials)
      throw new HoneError("config", "qa.stride leaves no new context per window", [
        {
          path: ["qa", "stride"],
          message: `${q.stride} tokens of overlap in windows of at most ${cfg.data.max_length - q.max_question_tokens - enc.specials} context tokens`,
          hint: "lower qa.stride",
        },
      ]);
    const unanswerable = hasUnanswerable(data.train);
    const m: QaModel = {
      version: 1,
      max_length: cfg.data.max_length,
      stride: q.stride,
      max_question_tokens: q.max_question_tokens,
      n_best: q.n_best,
      max_answer_tokens: q.max_answer_tokens,
      null_threshold: unanswerable ? 0 : null,
    };
    // Windows are counted now: the plan's steps follow from them, not from the questions.
    // Every question is cut into windows once, here: the plan's steps follow from the windows.
    const cut = {
      train: await windowsOf(enc, data.train, true),
      validation: await windowsOf(enc, data.validation, true),
      test: await windowsOf(enc, data.test, true),
    };
    const trainWindows = cut.train;
    const windows = { train: cut.train.length, validation: cut.validation.length, test: cut.test.length };
    const answered = new Set(trainWindows.filter((w) => w.end > 0).map((w) => w.example));
    const missed = data.train.filter((e, i) => e.answers.length > 0 && !answered.has(i)).length;
    if (missed > 0)
      update({
        kind: "warning",
        text: `${missed} training answer(s) are in no window whole (longer than a window, or cut by the tokenizer): they teach "no answer" there`,
      });
    const base = planTraining(cfg, ["start", "end"], { train: windows.train, validation: data.validation.length, test: data.test.length });
    const plan: QaPlan = { ...base, labels: ["start", "end"], windows, unanswerable };
    const hash = sha256(JSON.stringify([data.train, data.validation, data.test].map((s) => s.map((e) => [e.question, e.context, e.answers]))));
    return {
      plan,
      dataHash: hash,
      parents: [],
      async write(paths) {
        mkdirSync(paths.model, { recursive: true });
        for (const f of MODEL_FILES) if (existsSync(join(cfg.model.dir, f))) copyFileSync(join(cfg.model.dir, f), join(paths.model, f));
        writeJsonAtomic(join(paths.model, "qa.json"), m);
        writeJsonAtomic(join(paths.model, "heads.json"), headsFileQa());
        update({ kind: "phase", text: `cutting ${windows.train + windows.validation + windows.test} windows of ${cfg.data.max_length} tokens` });
        const train = writeShard(
          paths.data,
          "train",
          trainWindows.map((w) => w.ids),
          [{ name: SPAN_HEAD, numLabels: 2, multiLabel: false, targets: [], spanTargets: trainWindows.map((w) => [w.start, w.end] as [number, number]) }],
        );
        const split = (name: "validation" | "test") => (data[name].length === 0 ? null : writeQaWindows(data[name], cut[name], paths.data, name, true));
        return { train, validation: split("validation"), test: split("test") };
      },
    };
  },

  trainJob(c, resume): ClassifyTrainJob {
    return encoderTrainJob(c, resume, {
      heads: headSpecs({ heads: heads() }, 0),
      couplings: [],
      data: { train: c.files.train, validation: c.files.validation?.shard ?? null },
    });
  },

  judge({ files, paths }, ev, metric) {
    const m = readQaModel(paths.model);
    const f = files.validation!;
    const rows = spanRows(ev.logits, f.shard);
    let answers = answersOf(m, f, rows, null);
    if (m.null_threshold !== null) {
      const t = tuneNullThreshold(
        answers,
        answers.map((a, i) => Math.max(...(f.answers[i]!.length ? f.answers[i]! : [""]).map((g) => tokenF1(a.text, g)))),
        f.answers.map((g) => (g.length === 0 ? 1 : 0)),
      );
      answers = answersOf(m, f, rows, t);
    }
    const metrics = qaMetrics(
      f.answers,
      answers.map((a) => a.text),
      ev.loss,
    );
    const values = qaScalars(metrics);
    return { value: metric === "loss" ? (ev.loss ?? Number.NaN) : (values[metric] ?? Number.NaN), values: { ...values, engine_loss: ev.loss } };
  },

  trainSeries: (ev) => ({ loss: ev.loss, lr: ev.lr, grad_norm: ev.grad_norm, samples_per_s: ev.samples_per_s }),

  async finalise({ cfg, store, run, files, paths, update }, bestStep, evaluateTest) {
    const m = readQaModel(paths.model);
    const weights = await promoteBestWeights(store, run.id, paths, bestStep);
    let validation: QaMetrics | null = null;
    const file = join(stepDir(paths.evals, bestStep), `${SPAN_HEAD}.logits.f32`);
    if (files.validation && existsSync(file)) {
      const f = files.validation;
      const rows = spanRows({ [SPAN_HEAD]: file }, f.shard);
      if (m.null_threshold !== null) {
        // The no-answer margin tuned on validation, once, and kept with the model.
        const plain = answersOf(m, f, rows, null);
        m.null_threshold = tuneNullThreshold(
          plain,
          plain.map((a, i) => Math.max(...(f.answers[i]!.length ? f.answers[i]! : [""]).map((g) => tokenF1(a.text, g)))),
          f.answers.map((g) => (g.length === 0 ? 1 : 0)),
        );
        writeJsonAtomic(join(paths.model, "qa.json"), m);
      }
      validation = qaMetrics(
        f.answers,
        answersOf(m, f, rows).map((a) => a.text),
      );
    }
    let test: QaMetrics | null = null;
    if (files.test && evaluateTest) {
      update({ kind: "phase", text: `evaluating step ${bestStep} on the test split (${files.test.answers.length} questions)` });
      const out = await predictShard({
        cfg,
        plan: { heads: heads() },
        modelDir: paths.model,
        weights,
        shard: files.test.shard,
        outDir: join(run.run_dir, "predictions", "test"),
      });
      test = qaMetrics(
        files.test.answers,
        answersOf(m, files.test, out.logits[SPAN_HEAD]!).map((a) => a.text),
      );
    }
    return { validation, test };
  },

  scalars: qaScalars,

  async evaluate(_store: RunStore, run: RunRecord, opts) {
    const modelDir = runPaths(run.run_dir).model;
    if (!existsSync(join(modelDir, "model.safetensors")))
      throw new HoneError("usage", `run ${run.id} has no trained model (status: ${run.status})`, [
        { message: "eval needs a completed run", hint: "train one with: hone train" },
      ]);
    if (!opts.data) {
      const file = join(runPaths(run.run_dir).report, "metrics.test.json");
      if (!existsSync(file))
        throw new HoneError("usage", `run ${run.id} has no test split`, [{ message: "its data had no test file", hint: `hone eval ${run.id} --data FILE` }]);
      return { metrics: JSON.parse(readFileSync(file, "utf8")) as QaMetrics, source: "test split (evaluated once, after training)" };
    }
    const cfg = storedConfig(run.id, run.config);
    const examples = readQaSource({ path: opts.data, format: "auto" });
    const { metrics } = await answerQuestions(cfg, modelDir, examples, true);
    return { metrics: metrics!, source: opts.data };
  },

  async predict(_store, run, texts) {
    // Each input line is a JSON object {question, context}.
    const cfg = storedConfig(run.id, run.config);
    return (await answerQuestions(cfg, runPaths(run.run_dir).model, parseQuestions(texts), false)).answers.map(toPrediction);
  },

  bundle: qaBundle,

  renderMetrics: renderQaMetrics,
  headline: (t) => (typeof t?.f1 === "number" ? `F1 ${(t.f1 * 100).toFixed(2)}` : ""),
  curveMetric: () => "f1",
  modelBytes: (run) => weightsBytes(runPaths(run.run_dir).model),
  async inspect(cfg) {
    const data = loadQaData(cfg);
    const q = cfg.qa!;
    const enc = await QaEncoder.open(cfg.model.dir, { maxLength: cfg.data.max_length, stride: q.stride, maxQuestion: q.max_question_tokens });
    const splits: Record<string, unknown> = {};
    const rows: (string | number)[][] = [];
    for (const [name, ex] of Object.entries(data)) {
      if (ex.length === 0) continue;
      const questionTokens: number[] = [];
      const windows: number[] = [];
      for (const e of ex) {
        questionTokens.push(await enc.questionLength(e.question));
        windows.push((await enc.windows(e, 0, false)).length);
      }
      const s = {
        questions: ex.length,
        contexts: new Set(ex.map((e) => e.context)).size,
        unanswerable: ex.filter((e) => e.answers.length === 0).length,
        question_tokens: lengthStats(questionTokens, q.max_question_tokens),
        windows_per_question: lengthStats(windows, 1),
      };
      splits[name] = s;
      rows.push([
        name,
        s.questions,
        s.contexts,
        s.unanswerable,
        s.question_tokens.p50,
        s.question_tokens.max,
        s.windows_per_question.mean.toFixed(2),
        pct(s.windows_per_question.truncated),
      ]);
    }
    const text = table(["split", "questions", "contexts", "unanswerable", "question tokens p50", "max", "windows / question", "> 1 window"], rows, [
      "l",
      "r",
      "r",
      "r",
      "r",
      "r",
      "r",
      "r",
    ]);
    return { report: { splits, max_length: cfg.data.max_length, stride: q.stride }, text };
  },
};

/** Answers of a trained run for questions (and their metrics when they carry gold answers). */
async function answerQuestions(cfg: ResolvedConfig, modelDir: string, examples: QaExample[], labelled: boolean) {
  const m = readQaModel(modelDir);
  const enc = await QaEncoder.open(modelDir, { maxLength: m.max_length, stride: m.stride, maxQuestion: m.max_question_tokens });
  const work = mkdtempSync(join(tmpdir(), "hone-qa-"));
  try {
    const { files } = await encodeQa(enc, examples, join(work, "data"), "input", false);
    const out = await predictShard({
      cfg,
      plan: { heads: heads() },
      modelDir,
      weights: join(modelDir, "model.safetensors"),
      shard: files.shard,
      outDir: join(work, "out"),
    });
    const answers = answersOf(m, files, out.logits[SPAN_HEAD]!);
    return {
      answers,
      metrics: labelled
        ? qaMetrics(
            files.answers,
            answers.map((a) => a.text),
          )
        : null,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
