// token_classify end to end through the real CLI and engine, on a tiny random-weight model:
// joint intent + slot data as text + character spans, trained until it has learnt the pattern;
// predictions on fixed inputs must be exactly the expected spans.
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
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

test("token_classify: train, eval, per-type scores, predict exact spans with offsets, data inspect", () => {
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
