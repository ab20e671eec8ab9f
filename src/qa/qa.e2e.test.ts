// extractive_qa end to end through the real CLI and engine on a tiny random-weight model: short
// contexts, some longer than one window (so answers are found across overlapping windows);
// predictions on fixed inputs must be exactly the expected answers.
import assert from "node:assert/strict";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { load } from "../deploy/runtime.js";
import { createApp, DEFAULT_SERVE } from "../serve/app.js";
import { hone, jsonLines, tempDir, tinyModel } from "../testing/fixtures.js";

const NAMES = ["anna", "ben", "carla", "dan", "eva", "finn"];
const CITIES = ["paris", "berlin", "tokyo", "lima", "oslo", "cairo"];
const FILLERS = ["it is a sunny day .", "the bus was late .", "we had tea ."];

function rows(n: number, seed: number) {
  let s = seed;
  const next = (k: number) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((s / 2 ** 31) * k);
  };
  return Array.from({ length: n }, (_, i) => {
    const name = NAMES[next(NAMES.length)]!;
    const city = CITIES[next(CITIES.length)]!;
    const before = Array.from({ length: next(5) }, () => FILLERS[next(FILLERS.length)]!);
    const after = Array.from({ length: next(3) }, () => FILLERS[next(FILLERS.length)]!);
    const fact = `${name} lives in ${city} .`;
    const context = [...before, fact, ...after].join(" ");
    const start = context.indexOf(fact) + `${name} lives in `.length;
    return { id: `${seed}-${i}`, question: `where does ${name} live ?`, context, answers: [{ text: city, answer_start: start }] };
  });
}

test("extractive_qa: train, eval (official EM/F1), predict exact answers across windows, ONNX in Node, served", async () => {
  const dir = tempDir("hone-qa-e2e-");
  const write = (name: string, r: unknown[]) => {
    writeFileSync(join(dir, name), `${r.map((x) => JSON.stringify(x)).join("\n")}\n`);
    return join(dir, name);
  };
  const train = write("train.jsonl", rows(320, 1));
  const validation = write("validation.jsonl", rows(40, 2));
  const test = write("test.jsonl", rows(40, 3));
  const vocab = join(dir, "vocab.txt");
  writeFileSync(vocab, `${[...NAMES, ...CITIES, ...FILLERS, "where does live ? lives in"].join("\n")}\n`);
  const model = tinyModel([vocab]);
  const store = join(dir, "store");
  const sets = [
    "task=extractive_qa",
    `data.validation=${validation}`,
    `data.test=${test}`,
    "data.max_length=40",
    "qa.stride=8",
    "qa.max_question_tokens=8",
    "train.lr=3e-3",
    "train.batch_size=16",
    "train.epochs=15",
    "train.threads=1",
    "train.seed=5",
  ].flatMap((x) => ["--set", x]);
  const r = hone(["--store", store, "train", "--data", train, "--model", model, "--json", ...sets]);
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const res = jsonLines(r.stdout).find((l) => l.kind === "result") as { run: string; test: { exact_match: number; f1: number } };
  assert.ok(res.test.exact_match >= 0.95, `test exact match ${res.test.exact_match}`);
  assert.ok(existsSync(join(store, "runs", res.run, "model", "qa.json")));

  const again = hone(["--store", store, "eval", res.run, "--data", test, "--json"]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).metrics.exact_match, res.test.exact_match);

  // The answer is a substring of the context, with its code-point offsets; the second context is
  // longer than one window of 40 tokens.
  const long = `${FILLERS.join(" ")} ${FILLERS.join(" ")} eva lives in oslo . ${FILLERS[0]}`;
  const input = [
    { question: "where does anna live ?", context: "it is a sunny day . anna lives in paris . we had tea ." },
    { question: "where does eva live ?", context: long },
  ];
  const p = hone(["--store", store, "predict", res.run, "--text-field", "-"], { input: `${input.map((x) => JSON.stringify(x)).join("\n")}\n` });
  assert.equal(p.status, 0, p.stderr);
  const answers = jsonLines(p.stdout).map((l) => ({ answer: l.answer, start: l.start, end: l.end }));
  assert.deepEqual(answers, [
    { answer: "paris", start: 34, end: 39 },
    { answer: "oslo", start: long.indexOf("oslo"), end: long.indexOf("oslo") + 4 },
  ]);

  // The data doctor: questions, contexts, windows per question.
  const cfg = join(dir, "hone.yaml");
  writeFileSync(
    cfg,
    `task: extractive_qa\nmodel: { path: ${model} }\ndata: { train: ${train}, validation: ${validation}, test: ${test}, max_length: 40 }\nqa: { stride: 8, max_question_tokens: 8 }\n`,
  );
  const inspect = hone(["data", "inspect", cfg, "--json"]);
  assert.equal(inspect.status, 0, inspect.stderr);
  const report = JSON.parse(inspect.stdout);
  assert.equal(report.splits.train.questions, 320);
  assert.ok(report.splits.train.windows_per_question.max >= 2, "some contexts need two windows");

  // ONNX fp32 and int8 in Node: the same answers; fp32 also the same scores. Served at /v1/answers.
  const texts = input.map((x) => JSON.stringify(x));
  for (const quantize of ["none", "int8"]) {
    const bundle = join(dir, `bundle-${quantize}`);
    const e = hone(["--store", store, "export", res.run, "--quantize", quantize, "--out", bundle]);
    assert.equal(e.status, 0, e.stderr);
    const model = await load(bundle);
    const fromNode = (await model.predict(texts)) as { answer: string; start: number; end: number; score: number }[];
    assert.deepEqual(
      fromNode.map(({ answer, start, end }) => ({ answer, start, end })),
      answers,
      quantize,
    );
    if (quantize === "none") {
      jsonLines(p.stdout).forEach((l, i) => assert.ok(Math.abs((l.score as number) - fromNode[i]!.score) < 1e-3));
      const { app } = createApp(model, DEFAULT_SERVE);
      const r = await app.request("/v1/answers", {
        method: "POST",
        headers: { "content-type": "application/json", host: "localhost" },
        body: JSON.stringify({ texts }),
      });
      assert.equal(r.status, 200);
      assert.deepEqual(((await r.json()) as { predictions: unknown[] }).predictions, JSON.parse(JSON.stringify(fromNode)));
    }
    await model.close();
  }
});

test("extractive_qa: a question longer than qa.max_question_tokens is refused before any run exists", () => {
  const dir = tempDir("hone-qa-bad-");
  const train = join(dir, "train.jsonl");
  writeFileSync(
    train,
    `${rows(10, 9)
      .map((x) => JSON.stringify(x))
      .join("\n")}\n`,
  );
  const store = join(dir, "store");
  const r = hone(["--store", store, "train", "--data", train, "--model", tinyModel(), "--set", "task=extractive_qa", "--set", "qa.max_question_tokens=2"]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /question\(s\) are too long/);
  assert.match(r.stderr, /train\.jsonl:1/);
  assert.match(r.stderr, /qa\.max_question_tokens/);
  assert.doesNotMatch(r.stderr, /\n\s+at /); // no stack trace
  assert.ok(!existsSync(join(store, "runs")) || readdirSync(join(store, "runs")).length === 0);
});
