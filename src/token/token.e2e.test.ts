// token_classify end to end through the real CLI and engine, on a tiny random-weight model:
// joint intent + slot data as text + character spans, trained until it has learnt the pattern;
// predictions on fixed inputs must be exactly the expected spans.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { load } from "../deploy/runtime.js";
import { createApp, DEFAULT_SERVE } from "../serve/app.js";
import { hone, jsonLines, tempDir, tinyModel } from "../testing/fixtures.js";

const ARTISTS = ["abba", "queen", "muse", "adele", "oasis", "blur"];
const CITIES = ["paris", "berlin", "tokyo", "lima", "oslo", "cairo"];
const SERVICES = ["spotify", "deezer"];

/** Sentences from a few templates: each entity word at a known place, an intent per template. */
function examples(n: number, seed: number) {
  let s = seed;
  const pick = <T>(xs: T[]) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return xs[Math.floor((s / 2 ** 31) * xs.length)]!; // high bits: an LCG's low bits cycle fast
  };
  const rows: { text: string; spans: { start: number; end: number; label: string }[]; label: string }[] = [];
  const templates: [string, string][] = [
    ["play {artist} please", "PlayMusic"],
    ["play some {artist} on {service}", "PlayMusic"],
    ["weather in {city} tomorrow", "GetWeather"],
    ["will it rain in {city}", "GetWeather"],
  ];
  for (let i = 0; i < n; i++) {
    const [template, intent] = pick(templates);
    let text = "";
    const spans: { start: number; end: number; label: string }[] = [];
    for (const part of template.split(/(\{\w+\})/)) {
      const m = /^\{(\w+)\}$/.exec(part);
      if (!m) {
        text += part;
        continue;
      }
      const value = m[1] === "artist" ? pick(ARTISTS) : m[1] === "city" ? pick(CITIES) : pick(SERVICES);
      spans.push({ start: text.length, end: text.length + value.length, label: m[1]! });
      text += value;
    }
    rows.push({ text, spans, label: intent });
  }
  return rows;
}

test("token_classify: train, eval, per-type scores, predict exact spans with offsets, data inspect, ONNX in Node", async () => {
  const dir = tempDir("hone-token-e2e-");
  const write = (name: string, rows: unknown[]) => {
    writeFileSync(join(dir, name), `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
    return join(dir, name);
  };
  const train = write("train.jsonl", examples(240, 1));
  const validation = write("validation.jsonl", examples(40, 2));
  const test = write("test.jsonl", examples(40, 3));
  const store = join(dir, "store");
  const model = tinyModel();
  const sets = ["train.lr=5e-3", "train.batch_size=16", "train.epochs=12", "train.threads=1", "data.max_length=32", "train.seed=3"].flatMap((s) => [
    "--set",
    s,
  ]);
  const data = ["--set", `data.validation=${validation}`, "--set", `data.test=${test}`];
  const r = hone(["--store", store, "train", "--data", train, "--model", model, "--json", "--set", "task=token_classify", ...data, ...sets]);
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const res = jsonLines(r.stdout).find((l) => l.kind === "result") as { run: string; test: { f1: number; intent_accuracy: number } };
  assert.ok(res.test.f1 >= 0.95, `test entity F1 ${res.test.f1}`);
  assert.ok(res.test.intent_accuracy >= 0.95, `intent accuracy ${res.test.intent_accuracy}`);
  for (const f of ["model/model.safetensors", "model/token.json", "model/heads.json", "report/metrics.test.json", "report/curves.svg"])
    assert.ok(existsSync(join(store, "runs", res.run, f)), `missing ${f}`);

  // eval: the stored test metrics; --data scores a file again, the same way.
  const stored = hone(["--store", store, "eval", res.run, "--json"]);
  const again = hone(["--store", store, "eval", res.run, "--data", test, "--json"]);
  assert.equal(stored.status, 0, stored.stderr);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).metrics.f1, JSON.parse(stored.stdout).metrics.f1);
  const perType = hone(["--store", store, "eval", res.run, "--per-class"]);
  assert.match(perType.stdout, /entity type\s+precision\s+recall\s+F1/);
  for (const t of ["artist", "city", "service"]) assert.match(perType.stdout, new RegExp(`\\n${t}\\s+\\d`));

  // predict: entities as code-point spans of the original text, with the intent.
  const p = hone(["--store", store, "predict", res.run], { input: "play queen please\nweather in oslo tomorrow\nplay some blur on deezer\n" });
  assert.equal(p.status, 0, p.stderr);
  const preds = jsonLines(p.stdout).map((l) => ({
    intent: (l.intent as { label: string }).label,
    entities: (l.entities as { start: number; end: number; label: string; text: string }[]).map(({ start, end, label, text }) => ({ start, end, label, text })),
  }));
  assert.deepEqual(preds, [
    { intent: "PlayMusic", entities: [{ start: 5, end: 10, label: "artist", text: "queen" }] },
    { intent: "GetWeather", entities: [{ start: 11, end: 15, label: "city", text: "oslo" }] },
    {
      intent: "PlayMusic",
      entities: [
        { start: 10, end: 14, label: "artist", text: "blur" },
        { start: 18, end: 24, label: "service", text: "deezer" },
      ],
    },
  ]);

  // ONNX fp32 and int8 bundles, decoded in Node: the same entities as PyTorch on these texts.
  const texts = ["play queen please", "weather in oslo tomorrow", "play some blur on deezer", "will it rain in lima"];
  const engine = jsonLines(hone(["--store", store, "predict", res.run], { input: `${texts.join("\n")}\n` }).stdout);
  for (const quantize of ["none", "int8"]) {
    const bundle = join(dir, `bundle-${quantize}`);
    const e = hone(["--store", store, "export", res.run, "--quantize", quantize, "--out", bundle]);
    assert.equal(e.status, 0, e.stderr);
    for (const f of ["model.onnx", "token.json", "heads.json", "bundle.json", "tokenizer.json"])
      assert.ok(existsSync(join(bundle, f)), `${quantize}: missing ${f}`);
    const model = await load(bundle);
    const fromNode = await model.predict(texts);
    if (quantize === "none") {
      // hone serve, in process: POST /v1/entities answers what the bundle predicts; JSON only.
      const { app } = createApp(model, DEFAULT_SERVE);
      const headers = { "content-type": "application/json", host: "localhost" };
      const r = await app.request("/v1/entities", { method: "POST", headers, body: JSON.stringify({ texts }) });
      assert.equal(r.status, 200);
      assert.deepEqual(((await r.json()) as { predictions: unknown[] }).predictions, JSON.parse(JSON.stringify(fromNode)));
      const plain = await app.request("/v1/entities", {
        method: "POST",
        headers: { ...headers, "content-type": "text/plain" },
        body: JSON.stringify({ texts }),
      });
      assert.equal(plain.status, 415);
      const spec = (await (await app.request("/openapi.json", { headers: { host: "localhost" } })).json()) as { paths: Record<string, unknown> };
      assert.ok(spec.paths["/v1/entities"]);
      assert.equal((await app.request("/v1/classify", { method: "POST", headers, body: "{}" })).status, 404);
    }
    await model.close();
    const spans = (p: Record<string, unknown>) => ({
      intent: (p.intent as { label: string }).label,
      entities: (p.entities as { start: number; end: number; label: string }[]).map(({ start, end, label }) => [start, end, label]),
    });
    assert.deepEqual(
      fromNode.map((p) => spans(p as unknown as Record<string, unknown>)),
      engine.map(spans),
      quantize,
    );
    if (quantize === "none")
      fromNode.forEach((p, i) => {
        const scores = (x: Record<string, unknown>) => (x.entities as { score: number }[]).map((en) => en.score);
        scores(p as unknown as Record<string, unknown>).forEach((sc, k) => assert.ok(Math.abs(sc - scores(engine[i]!)[k]!) < 1e-4));
      });
    const cli = hone(["predict", bundle], { input: "play queen please\n" });
    assert.equal(cli.status, 0, cli.stderr);
    assert.deepEqual(spans(jsonLines(cli.stdout)[0]!), spans(engine[0]!));
  }

  // The data doctor knows token data.
  const cfg = join(dir, "hone.yaml");
  writeFileSync(cfg, `task: token_classify\nmodel: { path: ${model} }\ndata: { train: ${train}, validation: ${validation}, test: ${test} }\n`);
  const inspect = hone(["data", "inspect", cfg, "--json"]);
  assert.equal(inspect.status, 0, inspect.stderr);
  const report = JSON.parse(inspect.stdout);
  assert.deepEqual(
    report.entity_types.map((t: { type: string }) => t.type),
    ["artist", "city", "service"],
  );
  assert.equal(report.splits.train.sentences, 240);
  assert.deepEqual(
    report.intents.map((t: { intent: string }) => t.intent),
    ["GetWeather", "PlayMusic"],
  );
});

test("hone tune searches a token task on its entity F1", () => {
  const dir = tempDir("hone-token-tune-");
  const rows = (n: number, seed: number) =>
    `${examples(n, seed)
      .map((r) => JSON.stringify(r))
      .join("\n")}\n`;
  writeFileSync(join(dir, "train.jsonl"), rows(240, 4));
  writeFileSync(join(dir, "validation.jsonl"), rows(30, 5));
  const file = join(dir, "tune.yaml");
  writeFileSync(
    file,
    `name: slots
task: token_classify
model: { path: ${tinyModel()} }
data: { train: train.jsonl, validation: validation.jsonl, max_length: 32, split: { test: 0 } }
train: { epochs: 8, batch_size: 16, threads: 1, seed: 7 }
tune:
  sampler: grid
  trials: 2
  pruner: none
  space:
    train.lr: [1.0e-4, 5.0e-3]
`,
  );
  const r = hone(["--store", join(dir, "store"), "tune", file, "--json"]);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const lines = jsonLines(r.stdout);
  const ends = lines.filter((l) => l.kind === "trial-end") as { trial: { state: string; values: number[] } }[];
  assert.equal(ends.length, 2);
  for (const e of ends) assert.ok(e.trial.state === "complete" && e.trial.values[0]! >= 0 && e.trial.values[0]! <= 1, JSON.stringify(e.trial));
  // The study maximises F1: the larger step learns the pattern, the tiny one barely moves.
  const best = lines.find((l) => l.kind === "result") as { best: { values: number[]; params: Record<string, number> } };
  assert.equal(best.best.params["train.lr"], 5e-3);
  assert.ok(best.best.values[0]! > 0.8, `best F1 ${best.best.values[0]}`);
  const summary = JSON.parse(readFileSync(join(dir, "store", "studies", "slots", "summary.json"), "utf8"));
  assert.match(JSON.stringify(summary), /"f1"/);
});
