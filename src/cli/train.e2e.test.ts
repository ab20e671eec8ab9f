// End to end through the real CLI and the real engine (no mocks), on a tiny random-weight model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXAMPLE_DATA, hone, honeSpawn, jsonLines, settled, tempDir, tinyModel, tinyTrainArgs, trainUntilFirstCheckpoint } from "../testing/fixtures.js";

const tinyArgs = tinyTrainArgs;

function result(stdout: string) {
  const lines = jsonLines(stdout);
  const res = lines.find((l) => l.kind === "result") as { run: string; best_step: number; test: { accuracy: number; loss: number; count: number } };
  return { lines, res };
}

test("train a tiny model through the CLI: loss falls, artifacts exist, predict / eval / runs work", () => {
  const store = tempDir();
  const r = hone(tinyArgs(store, ["--epochs", "12", "--name", "tiny"]));
  assert.equal(r.status, 0, r.stderr);
  const { lines, res } = result(r.stdout);
  const progress = lines.filter((l) => l.type === "progress") as { loss: number; step: number }[];
  const evals = lines.filter((l) => l.type === "eval") as { loss: number }[];
  assert.ok(progress.length >= 3);
  assert.ok(evals.at(-1)!.loss < evals[0]!.loss * 0.9, `validation loss ${evals[0]!.loss} -> ${evals.at(-1)!.loss}`);
  assert.ok(res.test.accuracy > 1 / 11, `test accuracy ${res.test.accuracy} is not above chance`);

  const runDir = join(store, "runs", res.run);
  for (const f of [
    "config.json",
    "plan.json",
    "model/model.safetensors",
    "model/tokenizer.json",
    "model/labels.json",
    "model/decoding.json",
    "report/metrics.test.json",
    "report/curves.svg",
    "report/curves.png",
    "report/confusion.png",
  ]) {
    assert.ok(existsSync(join(runDir, f)), `missing ${f}`);
  }
  const resolved = JSON.parse(readFileSync(join(runDir, "config.json"), "utf8"));
  assert.equal(resolved.train.lr, 3e-3);
  assert.equal(resolved.train.device, "cpu");
  // Only the best and the newest checkpoints are kept.
  assert.ok(readdirSync(join(runDir, "checkpoints")).filter((d) => d.startsWith("step-")).length <= 2);
  assert.ok(!readdirSync(join(runDir, "checkpoints")).some((d) => d.startsWith(".tmp")));

  const pred = hone(["--store", store, "predict", "tiny", "--top-k", "2"], { input: '{"text": "my card was declined"}\nwhere is my parcel\n' });
  assert.equal(pred.status, 0, pred.stderr);
  const preds = jsonLines(pred.stdout) as { text: string; label: string; top: unknown[]; score: number }[];
  assert.equal(preds.length, 2);
  assert.equal(preds[1]!.text, "where is my parcel");
  assert.equal(preds[0]!.top.length, 2);
  assert.ok(preds[0]!.score > 0 && preds[0]!.score <= 1);

  const ev = hone(["--store", store, "eval", "last", "--json"]);
  assert.equal(ev.status, 0, ev.stderr);
  assert.equal(JSON.parse(ev.stdout).metrics.accuracy, res.test.accuracy);
  const evFile = hone(["--store", store, "eval", res.run, "--data", EXAMPLE_DATA, "--json"]);
  assert.equal(JSON.parse(evFile.stdout).metrics.count, 296);

  const list = hone(["--store", store, "runs"]);
  assert.match(list.stdout, new RegExp(`${res.run}\\s+tiny\\s+completed`));
  const show = hone(["--store", store, "runs", "show", "tiny", "--json"]);
  const shown = JSON.parse(show.stdout) as { artifacts: { sha256: string; kind: string }[]; metrics: { split: string }[] };
  assert.ok(shown.artifacts.some((a) => a.kind === "model" && a.sha256.length === 64));
  assert.ok(shown.metrics.some((m) => m.split === "test"));

  // Transfer: start a new run from this one's weights; same labels keep the head.
  const child = hone(tinyArgs(store, ["--epochs", "1", "--init-from", "tiny"]));
  assert.equal(child.status, 0, child.stderr);
  const childRes = result(child.stdout).res;
  const lineage = JSON.parse(hone(["--store", store, "runs", "show", childRes.run, "--json"]).stdout).lineage;
  assert.deepEqual(lineage, [{ parent_id: res.run, relation: "init_from" }]);
  assert.ok(childRes.test.accuracy >= res.test.accuracy - 0.1, "starting from trained weights keeps most of the accuracy");
});

test("kill -9 during training, then --resume: same final metrics as an uninterrupted run", async () => {
  const args = (store: string) => tinyArgs(store, ["--max-steps", "200", "--set", "train.eval_every=20"]);
  const reference = hone(args(tempDir()));
  assert.equal(reference.status, 0, reference.stderr);
  const expected = result(reference.stdout).res;

  const store = tempDir();
  // Killed once the first checkpoint is on disk, in the middle of training.
  const { out, runId } = await trainUntilFirstCheckpoint(args(store));
  assert.ok(runId, "the run started");
  assert.ok(!jsonLines(out).some((l) => l.kind === "result"), "killed before the end");
  // The engine notices its orchestrator is gone (stdin closes), saves a checkpoint and stops; until
  // then the run is still running (its lock names the engine), then it shows as interrupted.
  assert.equal(await settled(store, runId), "interrupted");

  const resumed = hone(["--store", store, "train", "--resume", runId, "--json"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  const { lines, res } = result(resumed.stdout);
  const started = lines.find((l) => l.type === "started") as { start_step: number };
  assert.ok(started.start_step > 0, "continued from a checkpoint, not from scratch");
  assert.equal(res.run, runId);
  assert.equal(res.best_step, expected.best_step);
  assert.equal(res.test.accuracy, expected.test.accuracy);
  assert.equal(res.test.loss, expected.test.loss);
});

test("multi-label: sigmoid heads, a threshold tuned on validation, label sets out", () => {
  const dir = tempDir();
  const rows = readFileSync(EXAMPLE_DATA, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { text: string; label: string });
  const data = join(dir, "ml.jsonl");
  writeFileSync(data, rows.map((r) => JSON.stringify({ text: r.text, label: r.label.split("/") })).join("\n"));
  const store = join(dir, "store");
  const r = hone([
    "--store",
    store,
    "train",
    "--data",
    data,
    "--multi-label",
    "--model",
    tinyModel(),
    "--epochs",
    "8",
    "--lr",
    "3e-3",
    "--json",
    "--set",
    "train.threads=1",
    "--set",
    "train.batch_size=16",
  ]);
  assert.equal(r.status, 0, r.stderr);
  const res = jsonLines(r.stdout).find((l) => l.kind === "result") as { test: { kind: string; micro_f1: number; threshold: number; labels: string[] } };
  assert.equal(res.test.kind, "multi_label");
  assert.equal(res.test.labels.length, 14); // 3 branches + 11 issues
  assert.ok(res.test.threshold > 0 && res.test.threshold < 1);
  assert.ok(res.test.micro_f1 > 0.3, `micro F1 ${res.test.micro_f1}`);
  const pred = jsonLines(hone(["--store", store, "predict", "last"], { input: "my card was declined\n" }).stdout)[0] as { labels: string[] };
  assert.ok(Array.isArray(pred.labels));
});

test("Ctrl-C saves a checkpoint, exits 130 with a resume hint, and --resume finishes the run", async () => {
  const store = tempDir();
  const child = honeSpawn(tinyArgs(store, ["--max-steps", "400", "--set", "train.eval_every=20"]));
  let out = "";
  let err = "";
  let sent = false;
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((resolve) => {
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (!sent && jsonLines(out.slice(0, out.lastIndexOf("\n") + 1)).some((l) => l.type === "checkpoint")) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    child.on("exit", (c) => resolve(c));
  });
  assert.equal(code, 130, err);
  assert.match(err, /training interrupted at step \d+; checkpoint saved/);
  assert.match(err, /hone train --resume /);
  const runId = String(jsonLines(out).find((l) => l.kind === "run")!.id);
  assert.equal(JSON.parse(hone(["--store", store, "runs", "show", runId, "--json"]).stdout).status, "interrupted");
  const resumed = hone(["--store", store, "train", "--resume", runId, "--json"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(JSON.parse(hone(["--store", store, "runs", "show", runId, "--json"]).stdout).status, "completed");
});
