// The commands around runs, through the real CLI and the SDK on the tiny model: the SDK's train()
// and evaluate() agree with what the CLI stores; `runs compare` shows the settings that differ and
// the test metrics; `eval --per-class` has a row per label; `schema`, `models` and `doctor` say
// what they promise.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EXAMPLE_DATA, hone, tempDir, tinyModel } from "../testing/fixtures.js";
import { evaluate, predict, train } from "../index.js";

test("SDK train() and evaluate(), then runs compare, eval --per-class, schema, models and doctor", async () => {
  const store = tempDir();
  const base = { data: { train: EXAMPLE_DATA, max_length: 32 }, model: { path: tinyModel() }, train: { lr: 3e-3, batch_size: 16, epochs: 2, threads: 1 } };
  const phases: string[] = [];
  const runs = [];
  for (const seed of [1, 2]) {
    const r = await train({
      store,
      base,
      set: [`train.seed=${seed}`, `name=seed-${seed}`],
      onUpdate: (u) => {
        if (u.kind === "phase") phases.push(u.text);
      },
    });
    assert.equal(r.run.status, "completed");
    assert.ok(r.test && r.test.count > 0);
    runs.push(r);
  }
  assert.ok(phases.includes("training"));
  // evaluate(): the stored test metrics, and the same numbers again from the test file itself.
  const stored = await evaluate("seed-1", { store });
  assert.deepEqual(stored.metrics, runs[0]!.test);
  const texts = ["my card was declined", "I want to send it back"];
  const p = await predict("seed-1", texts, { store });
  assert.equal(p.length, 2);
  for (const x of p as { label: string; top: { score: number }[] }[]) assert.ok(typeof x.label === "string" && x.top[0]!.score > 0);

  // runs compare: the seed and name differ; every test metric of the task is a row.
  const cmp = hone(["--store", store, "runs", "compare", "seed-1", "seed-2"]);
  assert.equal(cmp.status, 0, cmp.stderr);
  assert.match(cmp.stdout, /train\.seed\s+1\s+2/);
  const acc = runs.map((r) => (r.test as { accuracy: number }).accuracy);
  assert.match(cmp.stdout, /test accuracy/);
  assert.match(cmp.stdout, /test macro_f1/);
  for (const a of acc) assert.ok(cmp.stdout.includes(a.toFixed(4)), `${a.toFixed(4)} in\n${cmp.stdout}`);

  // eval --per-class: a row per label of the run, with its support.
  const per = hone(["--store", store, "eval", "seed-1", "--per-class"]);
  assert.equal(per.status, 0, per.stderr);
  const labels = (runs[0]!.test as { labels: string[] }).labels;
  for (const l of labels) assert.match(per.stdout, new RegExp(`\\n\\s*${l.replace("/", "\\/")}\\s+\\d`), l);

  // schema: JSON Schema of hone.yaml with every section, augment included.
  const schema = hone(["schema"]);
  assert.equal(schema.status, 0);
  const props = (JSON.parse(schema.stdout) as { properties: Record<string, { properties?: Record<string, unknown> }> }).properties;
  for (const k of ["task", "model", "data", "train", "fewshot", "augment", "token", "qa", "tune"]) assert.ok(props[k], k);
  assert.ok(props.augment!.properties!.reject_confidence);

  // models: the catalog, with what is installed here (set-up installs the default encoder).
  const models = hone(["models"]);
  assert.equal(models.status, 0);
  assert.match(models.stdout, /all-minilm-l6-v2\s+yes/);
  assert.match(models.stdout, /smollm2-135m-instruct/);

  // doctor: the engine's Python and torch, and the machine.
  const doctor = hone(["doctor"]);
  assert.equal(doctor.status, 0, doctor.stderr);
  assert.match(doctor.stdout, /torch/);
});
