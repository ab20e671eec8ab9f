import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, parseOverride } from "./load.js";
import { planTraining, resolveConfig, defaultLearningRate } from "./resolve.js";
import { HoneError } from "../util/errors.js";
import { tempDir, tinyModel } from "../testing/fixtures.js";

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
  assert.equal(config.model.path, "all-minilm-l6-v2");
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
  assert.deepEqual(parseOverride("train.freeze.patterns=[attention, embeddings]"), { path: ["train", "freeze", "patterns"], value: ["attention", "embeddings"] });
  assert.throws(() => parseOverride("no-equals"), HoneError);
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
  assert.ok(cfg.data.train.path.startsWith("/"));
  const gpu = resolveConfig(loadConfig(null, [], { data: { train: join(dir, "t.jsonl") }, model: { path: tinyModel() } }), { ...machine, cuda: true, bf16: true });
  assert.equal(gpu.train.precision, "bf16");
  assert.equal(gpu.train.threads, null);
});

test("the plan counts steps like the engine does", () => {
  const cfg = resolveConfig(loadConfig(null, ["train.batch_size=16", "train.grad_accum=2", "train.epochs=3"], { data: { train: "t.jsonl" }, model: { path: tinyModel() } }), machine);
  const plan = planTraining(cfg, ["a", "b"], { train: 100, validation: 10, test: 10 });
  assert.equal(plan.steps_per_epoch, 4); // ceil(ceil(100/16)=7 / 2)
  assert.equal(plan.total_steps, 12);
  assert.equal(plan.warmup_steps, Math.floor(12 * 0.06));
  assert.equal(plan.eval_every_steps, 4);
});
