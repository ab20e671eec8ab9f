// The real default model (all-MiniLM-L6-v2, installed by the set-up command) on a CLINC150
// subset: 15 intents of the banking domain, 40 training utterances each, official test utterances.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SHARED_DATA, hone, jsonLines, tempDir } from "../testing/fixtures.js";

test("the default model learns a CLINC150 subset above an accuracy floor", () => {
  const full = JSON.parse(readFileSync(join(SHARED_DATA, "clinc150", "data_full.json"), "utf8")) as Record<string, [string, string][]>;
  const intents = new Set((JSON.parse(readFileSync(join(SHARED_DATA, "clinc150", "domains.json"), "utf8")) as Record<string, string[]>).banking);
  const subset = (split: string, perIntent: number) => {
    const seen = new Map<string, number>();
    return full[split]!.filter(([, l]) => intents.has(l) && (seen.set(l, (seen.get(l) ?? 0) + 1).get(l) ?? 0) <= perIntent);
  };
  const dir = tempDir();
  const write = (name: string, rows: [string, string][]) =>
    writeFileSync(join(dir, name), rows.map(([text, label]) => JSON.stringify({ text, label })).join("\n"));
  write("train.jsonl", subset("train", 40));
  write("val.jsonl", subset("val", 10));
  write("test.jsonl", subset("test", 30));
  const r = hone([
    "--store",
    join(dir, "store"),
    "train",
    "--data",
    join(dir, "train.jsonl"),
    "--validation",
    join(dir, "val.jsonl"),
    "--test",
    join(dir, "test.jsonl"),
    "--epochs",
    "3",
    "--lr",
    "2e-4",
    "--set",
    "data.max_length=48",
    "--json",
  ]);
  assert.equal(r.status, 0, r.stderr);
  const res = jsonLines(r.stdout).find((l) => l.kind === "result") as { test: { accuracy: number; count: number } };
  assert.equal(res.test.count, 450);
  assert.ok(res.test.accuracy >= 0.9, `accuracy ${res.test.accuracy} below the 90% floor`);
});
