// Bad input through the real CLI: one clear error naming the place, a non-zero exit code,
// no stack trace, and nothing half-written in the run store.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hone, tempDir, tinyModel } from "../testing/fixtures.js";

const GOOD = [
  '{"text":"where is my parcel","label":"shipping"}',
  '{"text":"refund me","label":"refund"}',
  '{"text":"parcel late","label":"shipping"}',
  '{"text":"money back","label":"refund"}',
];

function attempt(files: Record<string, string>, args: string[]) {
  const dir = tempDir();
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const store = join(dir, "store");
  const model = args.includes("--model") ? [] : ["--model", tinyModel()];
  const r = hone(["--store", store, "train", ...args, ...model], { cwd: dir });
  return { ...r, dir, store };
}

function assertCleanFailure(r: ReturnType<typeof attempt>, code: number, ...patterns: RegExp[]) {
  assert.equal(r.status, code, r.stderr);
  for (const p of patterns) assert.match(r.stderr, p);
  assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, "no stack trace");
  assert.equal(r.stderr.split("\n").filter((l) => l.startsWith("error:")).length, 1, "exactly one error");
  const runs = join(r.store, "runs");
  assert.ok(!existsSync(runs) || readdirSync(runs).length === 0, "no run was created");
}

test("a malformed JSONL line", () => {
  const r = attempt({ "d.jsonl": [GOOD[0], '{"text": "oops"', ...GOOD.slice(1)].join("\n") }, ["--data", "d.jsonl"]);
  assertCleanFailure(r, 2, /d\.jsonl:2: malformed JSON/);
});

test("an empty text", () => {
  const r = attempt({ "d.jsonl": [...GOOD, '{"text":"","label":"refund"}'].join("\n") }, ["--data", "d.jsonl"]);
  assertCleanFailure(r, 2, /d\.jsonl:5 text: empty text/, /hint: remove the row/);
});

test("a test label that never occurs in train", () => {
  const r = attempt({ "d.jsonl": GOOD.join("\n"), "t.jsonl": '{"text":"cancel it","label":"cancel"}\n' }, ["--data", "d.jsonl", "--test", "t.jsonl"]);
  assertCleanFailure(r, 2, /t\.jsonl:1 label: label "cancel" \(in test\) is not in the training data/);
});

test("a wrong column name", () => {
  const r = attempt({ "d.csv": "utterance,label\nhello,x\nbye,y\n" }, ["--data", "d.csv"]);
  assertCleanFailure(r, 2, /d\.csv:1 text: no column "text"; the header has: utterance, label/, /data\.text/);
});

test("a model path that does not exist", () => {
  const r = attempt({ "d.jsonl": GOOD.join("\n") }, ["--data", "d.jsonl", "--model", "./no-such-model"]);
  assertCleanFailure(r, 3, /cannot use model "\.\/no-such-model"/, /no such directory/);
});

test("a negative learning rate", () => {
  const r = attempt({ "d.jsonl": GOOD.join("\n") }, ["--data", "d.jsonl", "--lr", "-0.001"]);
  assertCleanFailure(r, 2, /train\.lr: .*> 0/);
});

test("pickled weights are refused (safetensors only)", () => {
  const dir = tempDir();
  writeFileSync(join(dir, "config.json"), '{"model_type":"bert","hidden_size":8}');
  writeFileSync(join(dir, "pytorch_model.bin"), "not loaded");
  writeFileSync(join(dir, "tokenizer.json"), "{}");
  const r = attempt({ "d.jsonl": GOOD.join("\n") }, ["--data", "d.jsonl", "--model", dir]);
  assertCleanFailure(r, 3, /no safetensors weights/, /pickled weights can run code/);
});

test("usage errors exit 2 (unknown option, command or choice, a missing argument); --help and --version exit 0", () => {
  for (const args of [["train", "--no-such-flag"], ["no-such-command"], ["train", "--task", "poetry"], ["eval"], ["--set", "__proto__.x=1", "train"]]) {
    const r = hone(args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at .*:\d+:\d+\)?\n/, "no stack trace");
  }
  const polluted = hone(["train", "--data", "d.jsonl", "--set", "__proto__.polluted=1"]);
  assert.equal(polluted.status, 2, polluted.stderr);
  assert.match(polluted.stderr, /"__proto__" is not a config key/);
  for (const args of [["--help"], ["train", "--help"], ["--version"]]) assert.equal(hone(args).status, 0, args.join(" "));
});
