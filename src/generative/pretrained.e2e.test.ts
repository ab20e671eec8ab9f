// The default generative model (SmolLM2-135M-Instruct, pretrained, installed by the set-up
// command from a PyPI package) fine-tunes on the CPU through the CLI: the quick-start chat example.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, hone, jsonLines, tempDir } from "../testing/fixtures.js";

test("SmolLM2 (pretrained) learns the support assistant's answer format with LoRA on the CPU", () => {
  const dir = tempDir();
  const all = readFileSync(join(ROOT, "examples", "support-chat", "chat.jsonl"), "utf8")
    .trim()
    .split("\n");
  const data = join(dir, "chat.jsonl");
  writeFileSync(data, `${all.slice(0, 60).join("\n")}\n`);
  const r = hone([
    "--store",
    join(dir, "store"),
    "train",
    join(ROOT, "examples", "support-chat", "sft.yaml"),
    "--json",
    "--set",
    `data.train=${data}`,
    "--set",
    "data.split.validation=0.2",
    "--set",
    "data.split.test=0.2",
    "--set",
    "train.eval_every=2",
    "--set",
    "train.epochs=2",
    "--set",
    "generation.eval_samples=4",
  ]);
  assert.equal(r.status, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  const evals = lines.filter((l) => l.type === "eval") as { loss: number }[];
  assert.ok(evals.length >= 2);
  assert.ok(evals.at(-1)!.loss < evals[0]!.loss * 0.8, `held-out loss ${evals[0]!.loss} -> ${evals.at(-1)!.loss}`);
  const res = lines.find((l) => l.kind === "result") as { run: string; test: { loss: number; generated: number } };
  assert.equal(res.test.generated, 4);
  const samples = readFileSync(join(dir, "store", "runs", res.run, "report", "samples.test.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { generation: string });
  // The pretrained model answers in its own words ("I'm sorry..."); after 6 steps on 36
  // conversations its answers open with the shop's topic, as the training answers do.
  assert.ok(
    samples.every((s) => /^(payment|product|service)\b/.test(s.generation)),
    JSON.stringify(samples.map((s) => s.generation)),
  );
});
