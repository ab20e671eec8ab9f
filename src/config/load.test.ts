import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, parseOverride } from "./load.js";
import { planTraining, defaultLearningRate } from "./resolve.js";
import { resolveConfig } from "../tasks/registry.js";
import { HoneError } from "../util/errors.js";
import { tempDir, tinyLm, tinyModel } from "../testing/fixtures.js";

const machine = { type: "probe" as const, torch: "x", transformers: "x", cuda: false, bf16: false, devices: [], cpu_threads: 2 };

function configError(fn: () => unknown): HoneError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof HoneError, String(e));
    return e;
  }
  assert.fail("expected a config error");
}

test("a minimal config gets every default", () => {
  const { config } = loadConfig(null, [], { data: { train: "train.jsonl" } });
  assert.equal(config.task, "classify");
  assert.equal(config.model.path, "auto"); // all-minilm-l6-v2 for classifiers, smollm2-135m-instruct for sft / dpo (resolve.ts)
  assert.equal(config.train.lr, "auto");
  assert.equal(config.train.batch_size, 32);
  assert.deepEqual(config.data.split, { validation: 0.1, test: 0.1, seed: 42, stratify: true });
});

test("unknown keys are rejected with file, line and a suggestion", () => {
  const dir = tempDir();
  const file = join(dir, "hone.yaml");
  writeFileSync(file, "data:\n  train: x.jsonl\ntrain:\n  epochs: 2\n  learning_rate: 0.1\n");
  const err = configError(() => loadConfig(file));
  assert.equal(err.issues.length, 1);
  const issue = err.issues[0]!;
  assert.deepEqual(issue.path, ["train", "learning_rate"]);
  assert.equal(issue.line, 5);
  assert.match(issue.message, /unknown key/);
  assert.match(issue.hint ?? "", /allowed here: .*lr/);
});

test("a near-miss key gets 'did you mean'", () => {
  const err = configError(() => loadConfig(null, ["train.epoch=3"], { data: { train: "x" } }));
  assert.equal(err.issues[0]!.hint, 'did you mean "epochs"?');
});

test("bad values name their path; all problems are reported together", () => {
  const err = configError(() => loadConfig(null, ["train.lr=-1", "train.scheduler=wavy", "data.max_length=2"], { data: { train: "x" } }));
  const paths = err.issues.map((i) => i.path!.join("."));
  assert.deepEqual(paths.sort(), ["data.max_length", "train.lr", "train.scheduler"]);
  assert.match(err.issues.find((i) => i.path!.join(".") === "train.scheduler")!.hint!, /linear, cosine, constant/);
  assert.match(err.issues.find((i) => i.path!.join(".") === "train.lr")!.message, /> 0/);
});

test("overrides are parsed as YAML values", () => {
  assert.deepEqual(parseOverride("train.lr=3e-5"), { path: ["train", "lr"], value: 3e-5 });
  assert.deepEqual(parseOverride("train.freeze.patterns=[attention, embeddings]"), {
    path: ["train", "freeze", "patterns"],
    value: ["attention", "embeddings"],
  });
  assert.throws(() => parseOverride("no-equals"), HoneError);
});

test("flags override the file setting by setting, --set overrides both, and `model: name` is short for its path", () => {
  const dir = tempDir();
  const file = join(dir, "hone.yaml");
  writeFileSync(file, "model: all-minilm-l6-v2\ndata:\n  train: x.jsonl\ntrain:\n  epochs: 8\n  lr: 1.0e-4\n");
  const plain = loadConfig(file).config;
  assert.equal(plain.model.path, "all-minilm-l6-v2");
  assert.equal(plain.model.pooling, "auto");
  // `hone train hone.yaml --epochs 1 --model other`: the flags win, the file's train.lr stays.
  const flagged = loadConfig(file, ["model.pooling=mean", "train.epochs=3"], { model: { path: "other" }, train: { epochs: 1 } }).config;
  assert.equal(flagged.model.path, "other");
  assert.equal(flagged.model.pooling, "mean");
  assert.equal(flagged.train.epochs, 3);
  assert.equal(flagged.train.lr, 1e-4);
  assert.equal(loadConfig(file, [], { train: { epochs: 1 } }).config.train.epochs, 1);
});

test("resolution fills every auto setting and makes paths absolute", () => {
  const dir = tempDir();
  const cfg = resolveConfig(loadConfig(null, [], { data: { train: "train.jsonl" }, model: { path: tinyModel() } }), machine);
  assert.equal(cfg.train.device, "cpu");
  assert.equal(cfg.train.precision, "fp32");
  assert.equal(cfg.train.threads, 2);
  assert.equal(cfg.train.lr, defaultLearningRate(32));
  assert.equal(cfg.train.head_lr, cfg.train.lr);
  assert.equal(cfg.model.pooling, "cls"); // no 1_Pooling/ in the tiny model
  assert.equal(cfg.train.early_stopping.metric, "accuracy");
  assert.ok(cfg.data.train!.path.startsWith("/"));
  const gpu = resolveConfig(loadConfig(null, [], { data: { train: join(dir, "t.jsonl") }, model: { path: tinyModel() } }), {
    ...machine,
    cuda: true,
    bf16: true,
  });
  assert.equal(gpu.train.precision, "bf16");
  assert.equal(gpu.train.threads, null);
  // compile: auto = on a GPU (launch-bound steps), off on the CPU; an explicit value stands.
  assert.equal(cfg.train.compile, false);
  assert.equal(gpu.train.compile, true);
  // augment.batch_size: auto = 32 prompts per generation batch on the CPU, 256 on a GPU.
  assert.equal(cfg.augment?.batch_size, 32);
  assert.equal(gpu.augment?.batch_size, 256);
  assert.equal(
    resolveConfig(loadConfig(null, ["train.compile=false"], { data: { train: join(dir, "t.jsonl") }, model: { path: tinyModel() } }), {
      ...machine,
      cuda: true,
      bf16: true,
    }).train.compile,
    false,
  );
});

test("the plan counts steps like the engine does", () => {
  const cfg = resolveConfig(
    loadConfig(null, ["train.batch_size=16", "train.grad_accum=2", "train.epochs=3"], { data: { train: "t.jsonl" }, model: { path: tinyModel() } }),
    machine,
  );
  const plan = planTraining(cfg, ["a", "b"], { train: 100, validation: 10, test: 10 });
  assert.equal(plan.steps_per_epoch, 4); // ceil(ceil(100/16)=7 / 2)
  assert.equal(plan.total_steps, 12);
  assert.equal(plan.warmup_steps, Math.floor(12 * 0.06));
  assert.equal(plan.eval_every_steps, 4);
});

test("generative tasks resolve their own defaults, and a model must fit its task", () => {
  const lm = (task: string, set: string[] = [], model = tinyLm()) =>
    resolveConfig(loadConfig(null, [`task=${task}`, ...set], { data: { train: "chat.jsonl" }, model: { path: model } }), machine);
  const sft = lm("sft");
  assert.equal(sft.data.max_length, 1024);
  assert.equal(sft.lm!.adapter.method, "lora");
  assert.equal(sft.train.lr, 2e-4);
  assert.equal(sft.train.early_stopping.metric, "loss");
  assert.equal(sft.train.processes, 1);
  assert.equal(sft.lm!.base_weights, "fp32"); // CPU: fp32; a bf16 GPU holds frozen base weights in bf16
  assert.equal(
    resolveConfig(loadConfig(null, ["task=sft"], { data: { train: "c.jsonl" }, model: { path: tinyLm() } }), {
      ...machine,
      cuda: true,
      bf16: true,
      devices: ["a", "b"],
    }).lm!.base_weights,
    "bf16",
  );
  assert.equal(
    resolveConfig(loadConfig(null, ["task=sft"], { data: { train: "c.jsonl" }, model: { path: tinyLm() } }), {
      ...machine,
      cuda: true,
      bf16: true,
      devices: ["a", "b"],
    }).train.processes,
    2,
  );
  assert.equal(lm("dpo").train.early_stopping.metric, "reward_accuracy");
  assert.equal(lm("sft", ["adapter.method=none"]).train.lr, 5e-5);
  assert.equal(lm("sft", ["data.chat_template=chatml"]).lm!.chat_template, "builtin:chatml");
  const fails = (f: () => unknown, kind: string, re: RegExp) => assert.throws(f, (e: HoneError) => e.kind === kind && re.test(JSON.stringify(e.issues)));
  fails(() => lm("sft", [], tinyModel()), "model", /not a language model that generates text/);
  fails(() => lm("classify"), "model", /use task: sft or dpo/);
  fails(() => lm("sft", ["train.early_stopping.metric=accuracy"]), "config", /not a metric of task sft/);
  fails(
    () => resolveConfig(loadConfig(null, ["adapter.method=lora"], { data: { train: "t.jsonl" }, model: { path: tinyModel() } }), machine),
    "config",
    /not available for task classify/,
  );
  assert.equal(lm("sft", ["train.fsdp=true"]).train.fsdp, true);
  fails(() => lm("reward", ["train.fsdp=true"]), "config", /reward model is trained replicated/);
  fails(
    () => resolveConfig(loadConfig(null, ["train.fsdp=true"], { data: { train: "t.jsonl" }, model: { path: tinyModel() } }), machine),
    "config",
    /task classify trains in one process/,
  );
  // AdamW in host memory: on a GPU only (on the CPU it is there already), not with FSDP, not for encoders.
  const onGpu = (sets: string[]) =>
    resolveConfig(loadConfig(null, ["task=sft", ...sets], { data: { train: "c.jsonl" }, model: { path: tinyLm() } }), {
      ...machine,
      cuda: true,
      bf16: true,
      devices: ["a"],
    });
  assert.equal(onGpu(["train.optimizer_offload=true"]).train.optimizer_offload, true);
  assert.equal(lm("sft", ["train.optimizer_offload=true"]).train.optimizer_offload, false);
  fails(() => onGpu(["train.optimizer_offload=true", "train.fsdp=true"]), "config", /FSDP already divides/);
  fails(
    () => resolveConfig(loadConfig(null, ["train.optimizer_offload=true"], { data: { train: "t.jsonl" }, model: { path: tinyModel() } }), machine),
    "config",
    /keeps its optimizer on the device/,
  );
  fails(
    () => resolveConfig(loadConfig(null, ["train.activation_budget=0.5"], { data: { train: "t.jsonl" }, model: { path: tinyModel() } }), machine),
    "config",
    /keeps all of its layers' activations/,
  );
  fails(() => onGpu(["train.activation_budget=0"]), "config", /activation_budget/);
});

test("keys that reach a prototype are refused, on the command line and in a file, and nothing is polluted", () => {
  for (const set of ["__proto__.polluted=1", "constructor.prototype.polluted=1", "train.__proto__.polluted=1", "train..lr=1"]) {
    assert.throws(
      () => loadConfig(null, [set], { data: { train: "t.jsonl" } }),
      (e: unknown) => e instanceof HoneError && e.kind === "usage" && /is not a setting/.test(e.message),
      set,
    );
  }
  assert.throws(
    () => loadConfig(null, ['train={"__proto__": {"polluted": 1}}'], { data: { train: "t.jsonl" } }),
    (e: unknown) => e instanceof HoneError && /"__proto__" is not a config key/.test(e.message),
  );
  const dir = tempDir("hone-proto-");
  const file = join(dir, "hone.yaml");
  writeFileSync(file, "data:\n  train: t.jsonl\ntrain:\n  __proto__:\n    polluted: 1\n");
  assert.throws(
    () => loadConfig(file),
    (e: unknown) => e instanceof HoneError && e.kind === "config" && e.issues[0]!.line === 4 && e.issues[0]!.file === file,
  );
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test("settings the machine or the model cannot honour are refused before any work, each named", () => {
  const resolve =
    (set: string[], model = tinyModel()) =>
    () =>
      resolveConfig(loadConfig(null, set, { data: { train: "t.jsonl" }, model: { path: model } }), machine);
  const fails = (f: () => unknown, kind: string, re: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof HoneError && e.kind === kind && re.test(JSON.stringify(e.issues)), String(re));
  fails(resolve(["train.device=cuda"]), "config", /cuda was asked for.*no usable CUDA/);
  // The tiny BERT's position embeddings cover 128 tokens.
  fails(resolve(["data.max_length=256"]), "config", /256 tokens, but the model's position embeddings cover 128/);
  fails(resolve([`train.freeze.patterns=["attention(", "ok"]`]), "config", /"patterns",0\].*attention\(.{0,4} is not a regular expression/);
  assert.equal(resolve([])().data.max_length, 128, "auto stays within the positions");

  // A model folder whose weights were cut short, and one whose tokenizer is another model's.
  const copy = (): string => {
    const dir = join(tempDir("hone-model-"), "m");
    cpSync(tinyModel(), dir, { recursive: true });
    return dir;
  };
  const cut = copy();
  truncateSync(join(cut, "model.safetensors"), statSync(join(cut, "model.safetensors")).size - 100);
  fails(resolve([], cut), "model", /model\.safetensors is truncated/);
  const other = copy();
  const config = JSON.parse(readFileSync(join(other, "config.json"), "utf8"));
  writeFileSync(join(other, "config.json"), JSON.stringify({ ...config, vocab_size: 50 }));
  fails(resolve([], other), "model", /token ids up to \d+, but the model's embeddings hold 50 rows/);
});

test("several nodes: sft resolves them (flags' dotted settings override the file); a rank out of range, no endpoint, or an encoder task is refused with its path", () => {
  const lm = (task: string, set: string[], model = tinyLm()) =>
    resolveConfig(loadConfig(null, [`task=${task}`, ...set], { data: { train: "chat.jsonl" }, model: { path: model } }), machine);
  const nodes = lm("sft", ["train.nodes.count=2", "train.nodes.rank=1", 'train.nodes.endpoint="10.0.0.1:29500"']).train.nodes!;
  assert.deepEqual(nodes, { count: 2, rank: 1, endpoint: "10.0.0.1:29500", id: "hone" });
  assert.deepEqual(lm("sft", []).train.nodes, { count: 1, rank: 0, endpoint: null, id: "hone" });
  const outOfRange = configError(() => lm("sft", ["train.nodes.count=2", "train.nodes.rank=2", 'train.nodes.endpoint="h:1"']));
  assert.deepEqual(outOfRange.issues[0]!.path, ["train", "nodes", "rank"]);
  const noEndpoint = configError(() => lm("sft", ["train.nodes.count=2"]));
  assert.deepEqual(noEndpoint.issues[0]!.path, ["train", "nodes", "endpoint"]);
  const badEndpoint = configError(() => lm("sft", ["train.nodes.count=2", 'train.nodes.endpoint="no port"']));
  assert.match(JSON.stringify(badEndpoint.issues), /host:port/);
  const encoder = configError(() =>
    resolveConfig(
      loadConfig(null, ["train.nodes.count=2", 'train.nodes.endpoint="h:1"'], { data: { train: "d.jsonl" }, model: { path: tinyModel() } }),
      machine,
    ),
  );
  assert.deepEqual(encoder.issues[0]!.path, ["train", "nodes", "count"]);
});
