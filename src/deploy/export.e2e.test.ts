// Export round trip through the real CLI, engine and ONNX Runtime: a tiny model exported to ONNX,
// loaded in Node, gives the engine's predictions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cpSync, existsSync, readFileSync, readdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXAMPLE_DATA, hone, jsonLines, tempDir, tinyModel } from "../testing/fixtures.js";
import { load } from "./runtime.js";
import type { Prediction } from "../predict/predict.js";
import { predict } from "../run/sdk.js";
import { HoneError } from "../util/errors.js";

test("export a tiny hierarchical model to ONNX: checked against PyTorch, loaded in Node, same predictions as the engine", async () => {
  const store = tempDir();
  const t = hone([
    "--store",
    store,
    "train",
    "--data",
    EXAMPLE_DATA,
    "--model",
    tinyModel(),
    "--json",
    "--epochs",
    "3",
    "--set",
    "task=hierarchical",
    "--set",
    "data.max_length=32",
    "--set",
    "train.threads=1",
    "--set",
    "train.lr=3e-3",
  ]);
  assert.equal(t.status, 0, t.stderr);
  const runId = (jsonLines(t.stdout).find((l) => l.kind === "result") as { run: string }).run;

  const bundle = join(tempDir(), "bundle");
  const e = hone(["--store", store, "export", runId, "--out", bundle, "--json"]);
  assert.equal(e.status, 0, e.stderr);
  const report = JSON.parse(e.stdout) as { verification: Record<string, { max_abs_diff: number; top1_agreement: number }> };
  for (const v of Object.values(report.verification)) {
    assert.ok(v.max_abs_diff <= 1e-3, `max diff ${v.max_abs_diff}`);
    assert.equal(v.top1_agreement, 1);
  }
  // Self-contained and checksummed; no temporary folder left beside it.
  const manifest = JSON.parse(readFileSync(join(bundle, "bundle.json"), "utf8")) as { run_id: string; files: Record<string, string> };
  assert.equal(manifest.run_id, runId);
  for (const [f, sum] of Object.entries(manifest.files))
    assert.equal(
      createHash("sha256")
        .update(readFileSync(join(bundle, f)))
        .digest("hex"),
      sum,
      f,
    );
  for (const f of ["model.onnx", "tokenizer.json", "heads.json", "README.md"]) assert.ok(existsSync(join(bundle, f)), f);
  assert.deepEqual(
    readdirSync(join(bundle, "..")).filter((f) => f.includes(".tmp")),
    [],
  );

  const texts = ["the zipper on my jacket broke", "where is my parcel", "I was charged twice", "hello"];
  const model = await load(bundle);
  const fromNode = (await model.predict(texts)) as Prediction[];
  const fromEngine = (await predict(runId, texts, { store })) as Prediction[];
  await model.close();
  fromNode.forEach((p, i) => {
    const q = fromEngine[i]!;
    assert.equal(p.label, q.label);
    assert.deepEqual(p.path, q.path);
    assert.ok(Math.abs(p.score - q.score) < 1e-4, `${p.score} vs ${q.score}`);
  });

  // A bundle cut short in a copy, or edited, is refused at load, naming the file.
  const copy = join(tempDir(), "bundle");
  cpSync(bundle, copy, { recursive: true });
  truncateSync(join(copy, "model.onnx"), 1000);
  writeFileSync(join(copy, "heads.json"), readFileSync(join(copy, "heads.json"), "utf8").replace("level", "levels"));
  await assert.rejects(load(copy), (e: Error) => {
    const issues = (e as HoneError).issues.map((i) => `${i.file} ${i.message}`).join("\n");
    return e instanceof HoneError && /model\.onnx sha256 differs/.test(issues) && /heads\.json sha256 differs/.test(issues);
  });

  // The trade-off table: PyTorch fp32 and the three ONNX forms, measured on the test split.
  const c = hone(["--store", store, "export", runId, "--compare", "--json"]);
  assert.equal(c.status, 0, c.stderr);
  const cmp = JSON.parse(c.stdout) as { rows: { form: string; bytes: number; p50_ms: number; throughput: number; accuracy: number }[]; plot: string };
  assert.deepEqual(
    cmp.rows.map((r) => r.form),
    ["PyTorch fp32", "ONNX fp32", "ONNX fp16", "ONNX int8"],
  );
  const [torchRow, fp32, fp16, int8] = cmp.rows;
  assert.equal(fp32!.accuracy, torchRow!.accuracy, "fp32 ONNX decides as PyTorch does");
  assert.ok(int8!.bytes < fp16!.bytes && fp16!.bytes < fp32!.bytes, "smaller at lower precision");
  for (const r of cmp.rows) assert.ok(r.p50_ms > 0 && r.throughput > 0);
  assert.ok(existsSync(cmp.plot));
});
