// A catalogue of bad input through the real CLI, every case held to the same rules: the documented
// exit code (2 for the user's config, data and usage; 3 for a model), the culprit named (the file
// and line, or the config field), no stack trace, one error, and no run left in the store. Cases
// run a few at a time; each gets its own folder and store.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tempDir, tinyLm, tinyModel } from "../testing/fixtures.js";

interface Case {
  name: string;
  /** Files written into the case's folder (the working directory); a Buffer for raw bytes. */
  files?: Record<string, string | Buffer>;
  /** Arguments after `hone --store <store>`; `train` gets `--model <tiny>` unless it names one
   * (a tiny language model for generative tasks). */
  args: string[];
  code: number;
  /** What the error must say: the culprit (file:line, field path) and what is wrong. */
  says: RegExp[];
}

const row = (text: unknown, label: unknown) => JSON.stringify({ text, label });
const GOOD = [row("where is my parcel", "shipping"), row("refund me", "refund"), row("parcel late", "shipping"), row("money back", "refund")];
const good = GOOD.join("\n");
const data = (lines: string[]) => ({ "d.jsonl": lines.join("\n") });
const train = (...extra: string[]) => ["train", "--data", "d.jsonl", ...extra];
const set = (...pairs: string[]) => train(...pairs.flatMap((p) => ["--set", p]));

/** One field set out of range (or to an unknown choice) on the command line: refused by name. */
const field = (path: string, value: string, says: RegExp): Case => ({
  name: `${path}=${value}`,
  files: { "d.jsonl": good },
  args: set(`${path}=${value}`),
  code: 2,
  says: [new RegExp(`command line ${path.replace(/\./g, "\\.")}`), says],
});

const FIELDS: Case[] = [
  field("train.epochs", "0", /too small|>/),
  field("train.lr", "0", /must be > 0/),
  field("train.lr", "2", /too big|<=/),
  field("train.head_lr", "-1", /must be > 0/),
  field("train.batch_size", "0", /too small|>/),
  field("train.batch_size", "100000", /too big|<=/),
  field("train.grad_accum", "0", /too small|>/),
  field("train.warmup_ratio", "0.9", /too big|<=/),
  field("train.weight_decay", "2", /too big|<=/),
  field("train.label_smoothing", "0.9", /too big|<=/),
  field("train.max_grad_norm", "0", /too small|>/),
  field("train.eval_every", "0", /too small|>|expected/),
  field("train.eval_batch_size", "0", /too small|>/),
  field("train.max_steps", "-3", /too small|>/),
  field("train.scheduler", "exponential", /expected one of/),
  field("train.device", "tpu", /expected one of/),
  field("train.precision", "fp8", /expected one of/),
  field("train.threads", "0", /too small|>|expected/),
  field("train.early_stopping.patience", "-1", /too small|>=/),
  field("train.freeze.layers", "-2", /too small|>=/),
  field("data.max_length", "4", /too small|>=/),
  field("data.split.validation", "0.8", /too big|<=/),
  field("data.split.test", "-0.1", /too small|>=/),
  field("data.format", "xml", /expected one of/),
  field("model.dropout", "1", /too big|<=/),
  field("model.encoder_dropout", "2", /too big|<=/),
  field("model.pooling", "max", /expected one of/),
  field("task", "translate", /expected one of/),
  field("hierarchy.strategy", "tree", /expected one of/),
  field("hierarchy.consistency_loss", "-1", /too small|>=/),
  field("hierarchy.decode", "greedy", /expected one of/),
  field("fewshot.method", "magic", /expected one of/),
  field("fewshot.pairs_per_example", "0", /too small|>/),
  field("fewshot.epochs", "0", /too small|>/),
  field("fewshot.batch_size", "0", /too small|>/),
  field("fewshot.lr", "0", /too small|>/),
  field("fewshot.scale", "0", /too small|>/),
  field("fewshot.auto_below", "0", /too small|>=/),
  field("fewshot.head_init", "zeros", /expected one of/),
  field("augment.near_duplicate", "0", /too small|>/),
  field("augment.reject_confidence", "1.5", /too big|<=/),
  field("augment.min_confidence", "-0.1", /too small|>=/),
  field("augment.paraphrases", "-1", /too small|>=/),
  field("augment.keep", "maybe", /expected one of/),
  field("augment.chunk", "0", /too small|>/),
  field("token.scheme", "bilou2", /expected one of/),
  field("token.intent_weight", "0", /too small|>/),
  field("qa.n_best", "0", /too small|>/),
  field("qa.stride", "-1", /too small|>=/),
  field("qa.max_answer_tokens", "0", /too small|>/),
  field("adapter.r", "0", /too small|>/),
  field("adapter.dropout", "1", /too big|<=/),
  field("adapter.method", "qlora9", /expected one of/),
  field("generation.temperature", "9", /too big|<=/),
  field("generation.top_p", "0", /too small|>/),
  field("dpo.beta", "0", /too small|>/),
];

const CONFIGS: Case[] = [
  {
    name: "an unknown key, with the nearest known one",
    files: { "d.jsonl": good },
    args: set("train.learning_rate=1e-4"),
    code: 2,
    says: [/learning_rate/, /lr/],
  },
  {
    name: "a YAML syntax error, with its line",
    files: { "d.jsonl": good, "h.yaml": "data:\n  train: d.jsonl\ntrain: {epochs: 3\n" },
    args: ["train", "h.yaml"],
    code: 2,
    says: [/h\.yaml:\d+/],
  },
  { name: "a config that is not a map", files: { "h.yaml": "- a\n- b\n" }, args: ["train", "h.yaml"], code: 2, says: [/h\.yaml/] },
  { name: "an empty config", files: { "h.yaml": "" }, args: ["train", "h.yaml"], code: 2, says: [/h\.yaml|data/] },
  { name: "a config file that does not exist", args: ["train", "nope.yaml"], code: 2, says: [/nope\.yaml/] },
  { name: "a config that is a folder", files: { "d.jsonl": good }, args: ["train", "."], code: 2, says: [/config|folder|directory/i] },
  {
    name: "a config of a newer version",
    files: { "d.jsonl": good, "h.yaml": "version: 9\ndata: { train: d.jsonl }\n" },
    args: ["train", "h.yaml"],
    code: 2,
    says: [/h\.yaml:1/, /version/],
  },
  {
    name: "a key given twice",
    files: { "d.jsonl": good, "h.yaml": "data: { train: d.jsonl }\ntrain: { epochs: 2 }\ntrain: { epochs: 3 }\n" },
    args: ["train", "h.yaml"],
    code: 2,
    says: [/h\.yaml:3/],
  },
  {
    name: "a wrong type, with its line",
    files: { "d.jsonl": good, "h.yaml": "data: { train: d.jsonl }\ntrain:\n  epochs: many\n" },
    args: ["train", "h.yaml"],
    code: 2,
    says: [/h\.yaml:3/, /train\.epochs/],
  },
  {
    name: "thresholds and a target precision together",
    files: { "d.jsonl": good },
    args: set("task=hierarchical", "hierarchy.thresholds=[0.5]", "hierarchy.target_precision=0.9"),
    code: 2,
    says: [/hierarchy\.thresholds/, /not both/],
  },
  {
    name: "a selection metric of another task",
    files: { "d.jsonl": good },
    args: set("train.early_stopping.metric=exact_match"),
    code: 2,
    says: [/train\.early_stopping\.metric/, /not a metric of task classify/],
  },
  {
    name: "a freeze pattern that is not a regular expression",
    files: { "d.jsonl": good },
    args: set('train.freeze.patterns=["(attention"]'),
    code: 2,
    says: [/train\.freeze\.patterns\[0\]/, /not a regular expression/],
  },
  { name: "FSDP for an encoder task", files: { "d.jsonl": good }, args: set("train.fsdp=true"), code: 2, says: [/train\.fsdp/, /FSDP/] },
  {
    name: "a GPU asked for on a machine without one",
    files: { "d.jsonl": good },
    args: set("train.device=cuda"),
    code: 2,
    says: [/train\.device/, /no usable CUDA/],
  },
  {
    name: "a max length over the model's positions",
    files: { "d.jsonl": good },
    args: set("data.max_length=100000"),
    code: 2,
    says: [/data\.max_length/, /position/],
  },
  {
    name: "label descriptions that are a list of mappings, not of labels",
    files: { "d.jsonl": good, "l.yaml": "- {a: b}\n" },
    args: set("fewshot.descriptions=l.yaml"),
    code: 2,
    says: [/fewshot\.descriptions/, /not of labels/],
  },
  {
    name: "label descriptions that do not exist",
    files: { "d.jsonl": good },
    args: set("fewshot.descriptions=none.yaml"),
    code: 2,
    says: [/none\.yaml/, /no such file/],
  },
  {
    name: "an empty label description",
    files: { "d.jsonl": good, "l.yaml": 'refund: ""\n' },
    args: set("fewshot.descriptions=l.yaml"),
    code: 2,
    says: [/fewshot\.descriptions/, /"refund" is not a text/],
  },
  { name: "a bad --set path", files: { "d.jsonl": good }, args: set("nonsense"), code: 2, says: [/nonsense/] },
  { name: "a model folder that does not exist", files: { "d.jsonl": good }, args: train("--model", "no-such-model"), code: 3, says: [/no-such-model/] },
  { name: "a model folder without a config", files: { "d.jsonl": good, "m/readme.txt": "x" }, args: train("--model", "m"), code: 3, says: [/config\.json/] },
  { name: "init_from a run that does not exist", files: { "d.jsonl": good }, args: set("model.init_from=ghost"), code: 2, says: [/ghost/] },
  { name: "an adapter on a classifier", files: { "d.jsonl": good }, args: set("adapter.method=lora"), code: 2, says: [/adapter/] },
  {
    name: "augmentation kept if better, with no validation to compare",
    files: { "d.jsonl": good },
    args: set("augment.enabled=true", "data.split.validation=0"),
    code: 2,
    says: [/augment\.keep/, /no validation split/],
  },
  {
    name: "augmentation by a writer that is neither a model nor a run",
    files: { "d.jsonl": good },
    args: set("augment.enabled=true", "augment.keep=always", "augment.model=ghost"),
    code: 2,
    says: [/augment\.model/, /ghost/],
  },
  {
    name: "augmentation by an encoder",
    files: { "d.jsonl": good },
    args: set("augment.enabled=true", "augment.keep=always", "augment.model=all-minilm-l6-v2"),
    code: 2,
    says: [/augment\.model/, /does not generate text/],
  },
  {
    name: "augmentation of a generative task",
    files: { "d.jsonl": good },
    args: [...train("--task", "sft"), "--set", "augment.enabled=true"],
    code: 2,
    says: [/augment\.enabled/, /classifier tasks/],
  },
  {
    name: "augmentation of a zero-shot run",
    files: { "d.jsonl": good },
    args: set("augment.enabled=true", "augment.keep=always", "fewshot.method=zeroshot"),
    code: 2,
    says: [/fewshot\.method/, /zero-shot/],
  },
];

const DATA: Case[] = [
  { name: "a train file that does not exist", args: ["train", "--data", "missing.jsonl"], code: 2, says: [/missing\.jsonl/] },
  { name: "an empty train file", files: { "d.jsonl": "" }, args: train(), code: 2, says: [/d\.jsonl/, /no examples|empty/i] },
  { name: "a malformed JSON line", files: data([GOOD[0]!, '{"text": "x"', ...GOOD.slice(1)]), args: train(), code: 2, says: [/d\.jsonl:2/, /malformed JSON/] },
  { name: "a text that is a number", files: data([...GOOD, row(5, "refund")]), args: train(), code: 2, says: [/d\.jsonl:5/, /text/] },
  { name: "a missing text", files: data([...GOOD, JSON.stringify({ label: "refund" })]), args: train(), code: 2, says: [/d\.jsonl:5/, /text/] },
  { name: "a missing label", files: data([...GOOD, JSON.stringify({ text: "hello" })]), args: train(), code: 2, says: [/d\.jsonl:5/, /label/] },
  { name: "an empty text", files: data([...GOOD, row("", "refund")]), args: train(), code: 2, says: [/d\.jsonl:5/, /text/] },
  { name: "an empty label", files: data([...GOOD, row("hello", "")]), args: train(), code: 2, says: [/d\.jsonl:5/, /label/] },
  { name: "a label that is an object", files: data([...GOOD, row("hello", { a: 1 })]), args: train(), code: 2, says: [/d\.jsonl:5/, /label/] },
  { name: "a row that is an array", files: data([...GOOD, '["hello", "refund"]']), args: train(), code: 2, says: [/d\.jsonl:5/] },
  {
    name: "bytes that are not UTF-8",
    files: { "d.jsonl": Buffer.concat([Buffer.from(`${good}\n{"text":"caf`), Buffer.from([0xe9]), Buffer.from('","label":"refund"}\n')]) },
    args: train(),
    code: 2,
    says: [/d\.jsonl:5/, /UTF-8/],
  },
  {
    name: "one label only",
    files: data([row("a", "x"), row("b", "x"), row("c", "x")]),
    args: train(),
    code: 2,
    says: [/d\.jsonl/, /only 1 label/, /at least two/],
  },
  { name: "a wrong column name", files: { "d.jsonl": good }, args: set("data.text=utterance"), code: 2, says: [/d\.jsonl:1/, /utterance/] },
  {
    name: "a CSV without the label column",
    files: { "d.csv": "text,intent\nhello,a\nbye,b\n" },
    args: ["train", "--data", "d.csv"],
    code: 2,
    says: [/d\.csv/, /label/],
  },
  {
    name: "a CSV row with too many cells",
    files: { "d.csv": "text,label\nhello,a\nbye,b,c\nyo,a\nhey,b\n" },
    args: ["train", "--data", "d.csv"],
    code: 2,
    says: [/d\.csv:3/],
  },
  { name: "a CSV with an unclosed quote", files: { "d.csv": 'text,label\n"hello,a\nbye,b\n' }, args: ["train", "--data", "d.csv"], code: 2, says: [/d\.csv/] },
  {
    name: "a JSON file whose pointer finds nothing",
    files: { "d.json": '{"rows": []}' },
    args: set("data.train.path=d.json", "data.train.pointer=/train"),
    code: 2,
    says: [/d\.json/, /\/train/],
  },
  {
    name: "a JSON file that is not an array",
    files: { "d.json": '{"text": "a", "label": "b"}' },
    args: ["train", "--data", "d.json"],
    code: 2,
    says: [/d\.json/],
  },
  { name: "a JSON file that is not JSON", files: { "d.json": "[{" }, args: ["train", "--data", "d.json"], code: 2, says: [/d\.json/] },
  {
    name: "a test label never seen in training",
    files: { "d.jsonl": good, "t.jsonl": row("hi", "billing") },
    args: train("--test", "t.jsonl"),
    code: 2,
    says: [/t\.jsonl:1/, /billing/],
  },
  { name: "a validation file that does not exist", files: { "d.jsonl": good }, args: train("--validation", "v.jsonl"), code: 2, says: [/v\.jsonl/] },
  {
    name: "multi-label rows whose labels are neither a list nor a text",
    files: data([row("a", ["x"]), row("b", { y: 1 })]),
    args: set("data.multi_label=true"),
    code: 2,
    says: [/d\.jsonl:2/, /label/],
  },
  {
    name: "a hierarchy path with an empty level",
    files: data([...GOOD.map((g) => g.replace('"shipping"', '"ops/shipping"').replace('"refund"', '"money/refund"')), row("x", "ops//late")]),
    args: set("task=hierarchical"),
    code: 2,
    says: [/d\.jsonl:5/, /ops\/\/late/],
  },
  {
    name: "a hierarchy label missing from its taxonomy",
    files: {
      "d.jsonl": GOOD.map((g) => g.replace('"shipping"', '"ops/shipping"').replace('"refund"', '"money/refund"')).join("\n"),
      "tax.yaml": "ops: [shipping]\n",
    },
    args: set("task=hierarchical", "hierarchy.taxonomy=tax.yaml"),
    code: 2,
    says: [/money\/refund|refund/, /taxonomy/],
  },
  {
    name: "a taxonomy file that does not exist",
    files: { "d.jsonl": good },
    args: set("task=hierarchical", "hierarchy.taxonomy=tax.yaml"),
    code: 2,
    says: [/tax\.yaml/],
  },
  {
    name: "pickled weights (no safetensors)",
    files: { "d.jsonl": good, "m/config.json": '{"model_type":"bert"}', "m/pytorch_model.bin": "x", "m/tokenizer.json": "{}" },
    args: train("--model", "m"),
    code: 3,
    says: [/safetensors/],
  },
];

const TOKEN_ROW = (tokens: string[], tags: string[]) => JSON.stringify({ tokens, tags });
const TOKENS: Case[] = [
  {
    name: "token rows with fewer tags than words",
    files: { "d.jsonl": [TOKEN_ROW(["a", "b"], ["O", "B-X"]), TOKEN_ROW(["c", "d"], ["O"])].join("\n") },
    args: set("task=token_classify"),
    code: 2,
    says: [/d\.jsonl:2/, /tags/],
  },
  {
    name: "a tag without its type",
    files: { "d.jsonl": [TOKEN_ROW(["a", "b"], ["O", "B-X"]), TOKEN_ROW(["c", "d"], ["O", "B"])].join("\n") },
    args: set("task=token_classify"),
    code: 2,
    says: [/d\.jsonl:2/, /B/],
  },
  {
    name: "a numeric tag",
    files: { "d.jsonl": [TOKEN_ROW(["a", "b"], ["O", "B-X"]), JSON.stringify({ tokens: ["c"], tags: [3] })].join("\n") },
    args: set("task=token_classify"),
    code: 2,
    says: [/d\.jsonl:2/, /tag/],
  },
  {
    name: "a span beyond its text",
    files: {
      "d.jsonl": [
        JSON.stringify({ text: "hello world", spans: [{ start: 0, end: 5, label: "X" }] }),
        JSON.stringify({ text: "hi", spans: [{ start: 0, end: 9, label: "X" }] }),
      ].join("\n"),
    },
    args: set("task=token_classify"),
    code: 2,
    says: [/d\.jsonl:2/, /span/i],
  },
  {
    name: "overlapping spans",
    files: {
      "d.jsonl": [
        JSON.stringify({
          text: "hello world",
          spans: [
            { start: 0, end: 5, label: "X" },
            { start: 3, end: 8, label: "Y" },
          ],
        }),
        JSON.stringify({ text: "hi", spans: [] }),
      ].join("\n"),
    },
    args: set("task=token_classify"),
    code: 2,
    says: [/d\.jsonl:1/, /overlap/i],
  },
  {
    name: "seq files that disagree in length",
    files: { "s/seq.in": "a b\nc d\n", "s/seq.out": "O O\n", "s/label": "x\ny\n" },
    args: set("task=token_classify", "data.train.path=s", "data.train.format=seq"),
    code: 2,
    says: [/seq\.(in|out)/],
  },
  {
    name: "a CoNLL line with one column",
    files: { "d.conll": "a O\nb\n\nc O\n" },
    args: ["train", "--data", "d.conll", "--set", "task=token_classify"],
    code: 2,
    says: [/d\.conll:2/],
  },
];

const QA = (context: string, question: string, text: string, start: number) => JSON.stringify({ context, question, answers: [{ text, answer_start: start }] });
const QAS: Case[] = [
  {
    name: "an answer not at its offset",
    files: { "d.jsonl": [QA("the cat sat", "who sat?", "cat", 4), QA("the dog ran", "who ran?", "dog", 0)].join("\n") },
    args: set("task=extractive_qa"),
    code: 2,
    says: [/d\.jsonl:2/, /dog/],
  },
  {
    name: "a question without a context",
    files: { "d.jsonl": [QA("the cat sat", "who sat?", "cat", 4), JSON.stringify({ question: "q?", answers: [] })].join("\n") },
    args: set("task=extractive_qa"),
    code: 2,
    says: [/d\.jsonl:2/, /context/],
  },
  {
    name: "a question longer than allowed",
    files: { "d.jsonl": [QA("the cat sat", "who sat? ".repeat(40), "cat", 4)].join("\n") },
    args: set("task=extractive_qa", "qa.max_question_tokens=8"),
    code: 2,
    says: [/d\.jsonl:1/, /question/],
  },
];

const chat = (messages: unknown) => JSON.stringify({ messages });
const GENERATIVE: Case[] = [
  {
    name: "a chat role that does not exist",
    files: { "c.jsonl": chat([{ role: "robot", content: "hi" }]) },
    args: ["train", "--task", "sft", "--data", "c.jsonl"],
    code: 2,
    says: [/c\.jsonl:1/, /role/],
  },
  {
    name: "a chat without an assistant turn",
    files: { "c.jsonl": chat([{ role: "user", content: "hi" }]) },
    args: ["train", "--task", "sft", "--data", "c.jsonl"],
    code: 2,
    says: [/c\.jsonl:1/, /assistant/],
  },
  {
    name: "a message whose content is not text",
    files: {
      "c.jsonl": chat([
        { role: "user", content: 5 },
        { role: "assistant", content: "x" },
      ]),
    },
    args: ["train", "--task", "sft", "--data", "c.jsonl"],
    code: 2,
    says: [/c\.jsonl:1/, /content/],
  },
  {
    name: "a preference pair without its rejected answer",
    files: { "p.jsonl": JSON.stringify({ prompt: "q", chosen: "a" }) },
    args: ["train", "--task", "dpo", "--data", "p.jsonl"],
    code: 2,
    says: [/p\.jsonl:1/, /rejected/],
  },
  {
    name: "identical chosen and rejected answers",
    files: { "p.jsonl": JSON.stringify({ prompt: "q", chosen: "a", rejected: "a" }) },
    args: ["train", "--task", "dpo", "--data", "p.jsonl"],
    code: 2,
    says: [/p\.jsonl:1/, /same|identical/],
  },
];

const USAGE: Case[] = [
  { name: "an unknown command", args: ["trian"], code: 2, says: [/trian/] },
  { name: "an unknown option", args: ["train", "--epoch", "3"], code: 2, says: [/--epoch/] },
  { name: "--resume of a run that does not exist", args: ["train", "--resume", "ghost"], code: 2, says: [/ghost/] },
  { name: "predict with a run that does not exist", args: ["predict", "ghost"], code: 2, says: [/ghost/] },
  { name: "eval of a run that does not exist", args: ["eval", "ghost"], code: 2, says: [/ghost/] },
  { name: "export of a run that does not exist", args: ["export", "ghost"], code: 2, says: [/ghost/] },
  { name: "runs show of a run that does not exist", args: ["runs", "show", "ghost"], code: 2, says: [/ghost/] },
  { name: "serve on a public address without an API key", args: ["serve", "ghost", "--host", "0.0.0.0"], code: 2, says: [/API key|ghost/] },
  {
    name: "tune without a tune section",
    files: { "d.jsonl": good, "h.yaml": "data: { train: d.jsonl }\n" },
    args: ["tune", "h.yaml"],
    code: 2,
    says: [/tune/],
  },
  {
    name: "a search space over a field that does not exist",
    files: { "d.jsonl": good, "h.yaml": "data: { train: d.jsonl }\ntune:\n  space:\n    train.learning_rate: loguniform(1e-5, 1e-3)\n" },
    args: ["tune", "h.yaml"],
    code: 2,
    says: [/h\.yaml:4/, /learning_rate/],
  },
  {
    name: "a search distribution that does not parse",
    files: { "d.jsonl": good, "h.yaml": "data: { train: d.jsonl }\ntune:\n  space:\n    train.lr: loguniform(1e-3)\n" },
    args: ["tune", "h.yaml"],
    code: 2,
    says: [/h\.yaml:4/, /loguniform/],
  },
  { name: "data inspect of a missing file", args: ["data", "inspect", "nothing.jsonl"], code: 2, says: [/nothing\.jsonl/] },
  { name: "--max-steps of zero", files: { "d.jsonl": good }, args: train("--max-steps", "0"), code: 2, says: [/max.steps/] },
];

const CASES = [...FIELDS, ...CONFIGS, ...DATA, ...TOKENS, ...QAS, ...GENERATIVE, ...USAGE];

function run(c: Case, models: { encoder: string; lm: string }): Promise<{ status: number | null; stderr: string; store: string }> {
  const dir = tempDir("hone-bad-");
  for (const [name, content] of Object.entries(c.files ?? {})) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  const store = join(dir, "store");
  const generative = c.args.includes("sft") || c.args.includes("dpo");
  const withModel =
    c.args[0] === "train" && !c.args.includes("--model") && !c.args.includes("--resume")
      ? [...c.args, "--model", generative ? models.lm : models.encoder]
      : c.args;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "hone"), "--store", store, ...withModel], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stderr, store }));
  });
}

test(`${CASES.length} kinds of bad input: the documented exit code, the culprit named, no stack trace, no run left`, async () => {
  assert.ok(CASES.length >= 100, `${CASES.length} cases`);
  const models = { encoder: tinyModel(), lm: tinyLm() };
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < CASES.length) {
      const c = CASES[next++]!;
      const r = await run(c, models);
      const problems: string[] = [];
      if (r.status !== c.code) problems.push(`exit ${r.status}, expected ${c.code}`);
      for (const p of c.says) if (!p.test(r.stderr)) problems.push(`does not say ${p}`);
      if (/\n\s+at .*:\d+:\d+\)?\n/.test(r.stderr)) problems.push("a stack trace");
      if (r.stderr.split("\n").filter((l) => l.startsWith("error:")).length !== 1) problems.push("not exactly one error line");
      const runs = join(r.store, "runs");
      if (existsSync(runs) && readdirSync(runs).length > 0) problems.push("a run was left in the store");
      if (problems.length) failures.push(`${c.name}: ${problems.join("; ")}\n    ${r.stderr.trim().split("\n").slice(-4).join("\n    ")}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  assert.deepEqual(failures, []);
});
