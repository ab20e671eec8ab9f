// task grpo end to end: the real CLI, the real engine, a tiny random Llama and a reward written in
// TypeScript. The reward (the share of the letter "e" in the answer) is reachable by chance, so
// GRPO has something to push up.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXAMPLE_DATA, hone, jsonLines, tempDir, tinyLm } from "../../testing/fixtures.js";

const REWARD_TS = `
interface Input { prompt: unknown; completion: string; example: { topic: string } }
const share = (text: string, letter: string): number => (text.length === 0 ? 0 : (text.split(letter).length - 1) / text.length);
export default function reward({ completion, example }: Input): number {
  if (typeof example.topic !== "string") throw new Error("no topic");
  return share(completion, "e");
}
`;

function setup() {
  const dir = tempDir();
  const questions = readFileSync(EXAMPLE_DATA, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { text: string; label: string });
  const rows = questions.map((q) => ({ prompt: [{ role: "user", content: q.text }], topic: q.label }));
  const write = (name: string, r: unknown[]) => {
    writeFileSync(join(dir, name), `${r.map((x) => JSON.stringify(x)).join("\n")}\n`);
    return join(dir, name);
  };
  writeFileSync(join(dir, "reward.ts"), REWARD_TS);
  const config = (extra = "") =>
    `task: grpo\ndata:\n  train: train.jsonl\n  validation: val.jsonl\n  test: test.jsonl\n  max_length: 96\ngrpo:\n  reward: ./reward.ts\n  group_size: 4\n  max_new_tokens: 8\n${extra}train:\n  max_steps: 40\n  batch_size: 4\n  lr: 3.0e-2\n  eval_every: 10\n  threads: 1\n  scheduler: constant\n  warmup_ratio: 0\n`;
  write("train.jsonl", rows.slice(0, 40));
  write("val.jsonl", rows.slice(40, 48));
  write("test.jsonl", rows.slice(48, 56));
  writeFileSync(join(dir, "grpo.yaml"), config());
  return { dir, store: join(dir, "store"), config, model: tinyLm() };
}

test("grpo: a TypeScript reward, group sampling and clipped steps raise the reward; answers and rewards are logged and shown", (t) => {
  const { dir, store, model } = setup();
  const r = hone(["--store", store, "train", join(dir, "grpo.yaml"), "--model", model, "--json", "--name", "rl"]);
  assert.equal(r.status, 0, r.stderr);
  const res = jsonLines(r.stdout).find((l) => l.kind === "result") as {
    run: string;
    validation: { reward: number; count: number };
    test: { reward: number; start_reward: number; count: number };
  };
  assert.equal(res.validation.count, 8);
  assert.equal(res.test.count, 8);
  // The test prompts are answered by the starting model too: what RL changed, in the result.
  assert.ok(res.test.reward > res.test.start_reward, JSON.stringify(res.test));
  const runDir = join(store, "runs", res.run);
  // Every step's answers, with their rewards and advantages (each group's advantages sum to 0).
  const steps = readdirSync(join(runDir, "grpo", "train")).sort();
  assert.equal(steps.length, 40);
  const read = (step: string) =>
    readFileSync(join(runDir, "grpo", "train", step, "samples.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { reward: number; advantage: number; completion: string });
  const first = read(steps[0]!);
  assert.equal(first.length, 16); // 4 prompts x 4 answers
  assert.ok(Math.abs(first.slice(0, 4).reduce((a, s) => a + s.advantage, 0)) < 1e-6);
  const meanOf = (xs: string[]) => xs.flatMap(read).reduce((a, s) => a + s.reward, 0) / (xs.length * 16);
  const early = meanOf(steps.slice(0, 5));
  const late = meanOf(steps.slice(-5));
  t.diagnostic(`mean reward of steps 1-5: ${early.toFixed(3)}, of steps 36-40: ${late.toFixed(3)}`);
  assert.ok(late > early + 0.05, `mean reward ${early.toFixed(3)} -> ${late.toFixed(3)}`);
  // `runs show` prints the last step's answers with their rewards.
  const show = hone(["--store", store, "runs", "show", "rl"]);
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, /answers of the last training step/);
  assert.match(show.stdout, /reward\s+advantage\s+prompt\s+answer/);
  // The model is a generative run like any other: generate, and evaluate on a file of prompts.
  const gen = hone(["--store", store, "generate", "rl", "--prompt", "where is my order?", "--max-new-tokens", "4"]);
  assert.equal(gen.status, 0, gen.stderr);
  const ev = hone(["--store", store, "eval", "rl", "--data", join(dir, "val.jsonl"), "--json"]);
  assert.equal(ev.status, 0, ev.stderr);
  assert.equal((JSON.parse(ev.stdout) as { metrics: { reward: number } }).metrics.reward, res.validation.reward);
});

test("grpo: a reward that throws or returns no number stops the run with its place; a missing reward is refused first", () => {
  const { dir, store, config, model } = setup();
  writeFileSync(join(dir, "bad.ts"), "export default function reward({ completion }: { completion: string }) { return completion.length > 1000 ? 1 : NaN; }\n");
  writeFileSync(join(dir, "bad.yaml"), config().replace("./reward.ts", "./bad.ts"));
  const bad = hone(["--store", store, "train", join(dir, "bad.yaml"), "--model", model]);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /the reward function must return a finite number/);
  assert.match(bad.stderr, /train\.jsonl:\d+ grpo\.reward: it returned NaN/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /);
  const list = hone(["--store", store, "runs"]);
  assert.doesNotMatch(list.stdout, /running/);
  writeFileSync(join(dir, "none.yaml"), config().replace("  reward: ./reward.ts\n", ""));
  const none = hone(["--store", store, "train", join(dir, "none.yaml"), "--model", model]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /task grpo needs a reward/);
  writeFileSync(join(dir, "missing.yaml"), config().replace("./reward.ts", "./nowhere.ts"));
  const missing = hone(["--store", store, "train", join(dir, "missing.yaml"), "--model", model]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /reward module not found/);
  assert.ok(!existsSync(join(dir, ".reward.ts.hone-")));
});

test("grpo: a finished reward run scores the answers (grpo.reward: run:<name>); another task's run is refused", () => {
  const { dir, store, config, model } = setup();
  const questions = readFileSync(EXAMPLE_DATA, "utf8")
    .trim()
    .split("\n")
    .slice(0, 64)
    .map((l) => JSON.parse(l) as { text: string; label: string });
  const pairs = questions.map((q) => ({
    prompt: [{ role: "user", content: q.text }],
    chosen: [{ role: "assistant", content: `happy to help with ${q.label}.` }],
    rejected: [{ role: "assistant", content: `not my problem, ${q.label}.` }],
  }));
  writeFileSync(join(dir, "pairs.jsonl"), `${pairs.map((p) => JSON.stringify(p)).join("\n")}\n`);
  const rm = hone([
    ...["--store", store, "train", "--task", "reward", "--model", model, "--data", join(dir, "pairs.jsonl"), "--name", "rm", "--json"],
    ...["--set", "train.max_steps=4", "--set", "train.threads=1", "--set", "data.max_length=64", "--set", "data.split.test=0"],
  ]);
  assert.equal(rm.status, 0, rm.stderr);
  writeFileSync(join(dir, "by-run.yaml"), config().replace("./reward.ts", "run:rm").replace("max_steps: 40", "max_steps: 4"));
  const r = hone(["--store", store, "train", join(dir, "by-run.yaml"), "--model", model, "--json", "--name", "rl-rm"]);
  assert.equal(r.status, 0, r.stderr);
  const res = jsonLines(r.stdout).find((l) => l.kind === "result") as { run: string; test: { reward: number; start_reward: number } };
  assert.ok(Number.isFinite(res.test.reward) && Number.isFinite(res.test.start_reward));
  const step = readFileSync(join(store, "runs", res.run, "grpo", "train", "step-000004", "samples.jsonl"), "utf8")
    .trim()
    .split("\n");
  assert.equal(step.length, 16);
  // The reward model gives different answers different numbers (not a constant).
  const values = new Set(step.map((l) => (JSON.parse(l) as { reward: number }).reward));
  assert.ok(values.size > 1);
  writeFileSync(join(dir, "by-grpo.yaml"), config().replace("./reward.ts", "run:rl-rm"));
  const refused = hone(["--store", store, "train", join(dir, "by-grpo.yaml"), "--model", model]);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /is a grpo run/);
});
