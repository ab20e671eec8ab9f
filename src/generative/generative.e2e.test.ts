// Generative tasks end to end through the real CLI and the real engine, on a tiny random Llama.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXAMPLE_DATA, SUPPORT_QA, hone, jsonLines, settled, tempDir, tinyLm, tinySftArgs, trainUntilFirstCheckpoint, writeChat } from "../testing/fixtures.js";

const QA = SUPPORT_QA;

function writeJsonl(file: string, rows: unknown[]): string {
  writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
  return file;
}

/** Preference pairs on the example questions: the preferred answers are polite, the rejected ones
 * rude, a pattern that carries over to new questions. 200 train, 50 held out, the rest test. */
function politePairs() {
  const dir = tempDir();
  const questions = readFileSync(EXAMPLE_DATA, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { text: string; label: string });
  const pairs = questions.map((q) => ({
    prompt: [{ role: "user", content: q.text }],
    chosen: [{ role: "assistant", content: `happy to help with ${q.label}.` }],
    rejected: [{ role: "assistant", content: `not my problem, ${q.label}.` }],
  }));
  const train = writeJsonl(join(dir, "train.jsonl"), pairs.slice(0, 200));
  const heldOut = writeJsonl(join(dir, "heldout.jsonl"), pairs.slice(200, 250));
  const test2 = writeJsonl(join(dir, "test.jsonl"), pairs.slice(250));
  return { train, heldOut, test2, store: join(dir, "store") };
}

const common = (store: string, model: string) => [
  "--store",
  store,
  "train",
  "--model",
  model,
  "--json",
  "--set",
  "train.threads=1",
  "--set",
  "data.max_length=64",
];

test("sft: a tiny model learns a small instruction set through the CLI; generate and merge work", () => {
  const dir = tempDir();
  const chat = writeJsonl(
    join(dir, "chat.jsonl"),
    QA.map(([q, a]) => ({
      messages: [
        { role: "user", content: q },
        { role: "assistant", content: a },
      ],
    })),
  );
  const store = join(dir, "store");
  const model = tinyLm([EXAMPLE_DATA, chat]);
  // Validation and test are the training conversations: this checks learning, not generalisation.
  const r = hone([
    ...common(store, model),
    "--task",
    "sft",
    "--data",
    chat,
    "--validation",
    chat,
    "--test",
    chat,
    "--name",
    "qa",
    "--set",
    "train.epochs=24",
    "--set",
    "train.batch_size=2",
    "--set",
    "train.lr=1e-2",
    "--set",
    "train.warmup_ratio=0",
    "--set",
    "train.eval_every=24",
  ]);
  assert.equal(r.status, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  const evals = lines.filter((l) => l.type === "eval") as { loss: number }[];
  assert.ok(evals.length >= 3);
  assert.ok(evals.at(-1)!.loss < evals[0]!.loss * 0.5, `validation loss ${evals[0]!.loss} -> ${evals.at(-1)!.loss}`);
  const res = lines.find((l) => l.kind === "result") as {
    run: string;
    test: { kind: string; loss: number; perplexity: number; exact_match: number; generated: number };
  };
  assert.equal(res.test.kind, "lm");
  assert.equal(res.test.generated, QA.length);
  assert.ok(res.test.exact_match >= 0.75, `exact match ${res.test.exact_match}`);
  assert.ok(Math.abs(res.test.perplexity - Math.exp(res.test.loss)) < 1e-9);

  const runDir = join(store, "runs", res.run);
  for (const f of [
    "model/adapter_model.safetensors",
    "model/adapter_config.json",
    "model/tokenizer.json",
    "model/hone.json",
    "report/samples.test.jsonl",
    "report/metrics.test.json",
    "report/curves.png",
    "data/train.rows.items.u32",
  ]) {
    assert.ok(existsSync(join(runDir, f)), `missing ${f}`);
  }
  // The dry run planned this run without making one; its parameter counts (read from the
  // safetensors headers) are the engine's own.
  const dry = hone([...common(join(dir, "dry"), model), "--task", "sft", "--data", chat, "--set", "train.batch_size=2", "--dry-run"]);
  assert.equal(dry.status, 0, dry.stderr);
  const planned = jsonLines(dry.stdout).find((l) => l.kind === "plan") as {
    plan: { memory_estimate: { total: number; inputs: { parameters: number; trained_parameters: number } } };
  };
  assert.ok(!existsSync(join(dir, "dry", "runs")) || readdirSync(join(dir, "dry", "runs")).length === 0, "a dry run makes no run");
  const started = lines.find((l) => l.type === "started") as { parameters: number; trainable_parameters: number };
  const estimate = planned.plan.memory_estimate;
  assert.equal(estimate.inputs.trained_parameters, started.trainable_parameters);
  assert.equal(estimate.inputs.parameters + estimate.inputs.trained_parameters, started.parameters);
  // Memory and throughput: in every progress event, the run's series, its report and runs show.
  const progress = lines.filter((l) => l.type === "progress") as { memory: { device: string; allocated_bytes: number | null; rss_bytes: number } }[];
  assert.ok(progress.length > 0 && progress.every((p) => p.memory.device === "cpu" && p.memory.allocated_bytes === null && p.memory.rss_bytes > 50e6));
  const resources = JSON.parse(readFileSync(join(runDir, "report/resources.json"), "utf8")) as {
    peak_rss_gib: number;
    tokens_per_s: number;
    peak_gpu_allocated_gib: null;
    estimate_gib: number;
    measured_over_estimate: number | null;
  };
  assert.equal(resources.peak_rss_gib, Math.max(...progress.map((p) => p.memory.rss_bytes)) / 2 ** 30);
  assert.ok(resources.tokens_per_s > 0);
  assert.equal(resources.peak_gpu_allocated_gib, null);
  assert.ok(resources.estimate_gib > 0 && resources.measured_over_estimate === null, "on the CPU the estimate is shown, not compared");
  assert.match(hone(["--store", store, "runs", "show", "qa"]).stdout, /training: peak process memory \(RSS\) \d+\.\d\d GiB; [\d,]+ tokens\/s/);
  const samples = readFileSync(join(runDir, "report/samples.test.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(samples.length, QA.length);
  assert.ok(samples.filter((s) => s.generation === s.reference).length >= 6);

  const gen = hone(["--store", store, "generate", "qa", "--prompt", QA[0]![0]]);
  assert.equal(gen.status, 0, gen.stderr);
  assert.equal((jsonLines(gen.stdout)[0] as { generation: string }).generation, QA[0]![1]);

  const merged = hone(["--store", store, "merge", "qa"]);
  assert.equal(merged.status, 0, merged.stderr);
  assert.ok(existsSync(join(runDir, "merged", "model.safetensors")) && existsSync(join(runDir, "merged", "tokenizer.json")));
  assert.ok(!readdirSync(runDir).some((f) => f.startsWith(".merged")));
  // The merged directory is an ordinary model: it trains and generates like any other.
  const again = hone(["--store", store, "merge", "qa"]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /exists/);
});

test("dpo: preference tuning raises the chosen-over-rejected margin on held-out pairs", () => {
  const { train, heldOut, test2, store } = politePairs();
  const r = hone([
    ...common(store, tinyLm([EXAMPLE_DATA, train])),
    "--task",
    "dpo",
    "--data",
    train,
    "--validation",
    heldOut,
    "--test",
    test2,
    "--set",
    "train.epochs=2",
    "--set",
    "train.batch_size=8",
    "--set",
    "train.lr=5e-3",
    "--set",
    "generation.eval_samples=0",
  ]);
  assert.equal(r.status, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  const res = lines.find((l) => l.kind === "result") as {
    validation: { reward_margin: number; reward_accuracy: number; count: number };
    test: { reward_margin: number; reward_accuracy: number; count: number; kind: string };
  };
  // Before any step the policy is the reference: margin 0. After: clearly positive, on pairs it never saw.
  assert.equal(res.validation.count, 50);
  assert.ok(res.validation.reward_margin > 0.1, `held-out margin ${res.validation.reward_margin}`);
  assert.ok(res.validation.reward_accuracy > 0.9, `held-out reward accuracy ${res.validation.reward_accuracy}`);
  assert.ok(res.test.reward_margin > 0.1 && res.test.reward_accuracy > 0.9, JSON.stringify(res.test));
});

test("orpo, simpo and kto (from unpaired good / bad answers) learn the polite pattern; kto evaluates unpaired files", () => {
  const { train, heldOut, test2, store } = politePairs();
  const dir = join(store, "..");
  // The pairs as unpaired rows, good and bad apart (KTO's data: each answer judged on its own).
  const unpaired = (file: string, name: string) =>
    writeJsonl(
      join(dir, name),
      readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { prompt: unknown; chosen: unknown; rejected: unknown })
        .flatMap((p, i) => [
          { prompt: p.prompt, completion: i % 2 ? p.rejected : p.chosen, label: i % 2 === 0 },
          { prompt: p.prompt, completion: i % 2 ? p.chosen : p.rejected, label: i % 2 === 1 },
        ]),
    );
  const model = tinyLm([EXAMPLE_DATA, train]);
  const results: Record<string, { run: string; validation: { reward_accuracy: number; loss: number; count: number }; test: { reward_accuracy: number } }> = {};
  for (const loss of ["orpo", "simpo", "kto"]) {
    const files =
      loss === "kto" ? [unpaired(train, "u-train.jsonl"), unpaired(heldOut, "u-heldout.jsonl"), unpaired(test2, "u-test.jsonl")] : [train, heldOut, test2];
    const r = hone([
      ...common(store, model),
      "--task",
      "dpo",
      "--name",
      loss,
      "--data",
      files[0]!,
      "--validation",
      files[1]!,
      "--test",
      files[2]!,
      "--set",
      `dpo.loss=${loss}`,
      "--set",
      "train.epochs=2",
      "--set",
      "train.batch_size=8",
      "--set",
      "train.lr=5e-3",
      "--set",
      "generation.eval_samples=0",
    ]);
    assert.equal(r.status, 0, r.stderr);
    results[loss] = jsonLines(r.stdout).find((l) => l.kind === "result") as (typeof results)[string];
  }
  for (const [loss, res] of Object.entries(results)) {
    assert.ok(res.validation.reward_accuracy > 0.9, `${loss}: held-out reward accuracy ${res.validation.reward_accuracy}`);
    assert.ok(res.test.reward_accuracy > 0.9, `${loss}: test reward accuracy ${res.test.reward_accuracy}`);
  }
  // KTO counts examples: 50 held-out pairs are 100 unpaired answers.
  assert.equal(results.kto!.validation.count, 100);
  assert.equal(results.orpo!.validation.count, 50);
  // ORPO and SimPO need no reference model: no reference pass on the test split.
  assert.ok(!existsSync(join(store, "runs", results.orpo!.run, "predictions", "test-reference")));
  assert.ok(existsSync(join(store, "runs", results.kto!.run, "predictions", "test-reference")));
  const ev = hone(["--store", store, "eval", "kto", "--data", join(dir, "u-heldout.jsonl"), "--json"]);
  assert.equal(ev.status, 0, ev.stderr);
  const evaluated = JSON.parse(ev.stdout) as { metrics: { reward_accuracy: number; count: number } };
  assert.equal(evaluated.metrics.count, 100);
  assert.ok(Math.abs(evaluated.metrics.reward_accuracy - results.kto!.validation.reward_accuracy) < 1e-9);
  // A label that is not true/false is refused with its line and field.
  const bad = writeJsonl(join(dir, "bad.jsonl"), [{ prompt: "hi", completion: "hello", label: "good" }]);
  const refused = hone([...common(store, model), "--task", "dpo", "--data", bad, "--set", "dpo.loss=kto"]);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /bad\.jsonl:1 label: label must be true/);
  const pairsOnly = hone([...common(store, model), "--task", "dpo", "--data", join(dir, "u-train.jsonl")]);
  assert.equal(pairsOnly.status, 2);
  assert.match(pairsOnly.stderr, /dpo\.loss dpo needs preference pairs/);
});

test("bad generative input: located errors, exit 2, no stack trace, no run left behind", () => {
  const dir = tempDir();
  const store = join(dir, "store");
  const model = tinyLm();
  const bad = join(dir, "bad.jsonl");
  writeFileSync(
    bad,
    `${[
      JSON.stringify({ messages: [{ content: "hi" }, { role: "assistant", content: "x" }] }),
      JSON.stringify({ messages: [{ role: "user", content: "no answer" }] }),
      JSON.stringify({
        messages: [
          { role: "robot", content: "x" },
          { role: "assistant", content: "y" },
        ],
      }),
    ].join("\n")}\n`,
  );
  const r = hone([...common(store, model), "--task", "sft", "--data", bad]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.jsonl:1 messages\[0\]\.role: missing role/);
  assert.match(r.stderr, /bad\.jsonl:2 messages: no assistant turn/);
  assert.match(r.stderr, /bad\.jsonl:3 messages\[0\]\.role: unknown role "robot"/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.ok(!existsSync(join(store, "runs")) || readdirSync(join(store, "runs")).length === 0);

  // A model without a chat template cannot render conversations: say what to set.
  const noTemplate = join(dir, "model");
  cpSync(model, noTemplate, { recursive: true });
  const tc = JSON.parse(readFileSync(join(noTemplate, "tokenizer_config.json"), "utf8"));
  delete tc.chat_template;
  writeFileSync(join(noTemplate, "tokenizer_config.json"), JSON.stringify(tc));
  const chat = writeJsonl(
    join(dir, "chat.jsonl"),
    QA.map(([q, a]) => ({
      messages: [
        { role: "user", content: q },
        { role: "assistant", content: a },
      ],
    })),
  );
  const t = hone([...common(store, noTemplate), "--task", "sft", "--data", chat]);
  assert.equal(t.status, 3);
  assert.match(t.stderr, /the model has no chat template/);
  assert.match(t.stderr, /data\.chat_template/);

  // Preference pairs are for dpo; an encoder is not a causal LM.
  const prefs = writeJsonl(join(dir, "prefs.jsonl"), [{ prompt: "q", chosen: "a", rejected: "b" }]);
  const p = hone([...common(store, model), "--task", "sft", "--data", prefs]);
  assert.equal(p.status, 2);
  assert.match(p.stderr, /use task: dpo/);
});

test("two processes (torchrun, data parallel, then FSDP) train exactly as one process with their batches together", () => {
  const dir = tempDir();
  const chat = writeJsonl(
    join(dir, "chat.jsonl"),
    QA.map(([q, a]) => ({
      messages: [
        { role: "user", content: q },
        { role: "assistant", content: a },
      ],
    })),
  );
  const model = tinyLm([EXAMPLE_DATA, chat]);
  const run = (processes: number, batch: number, fsdp = false) => {
    const r = hone([
      ...common(join(dir, `store-${processes}-${fsdp}`), model),
      "--task",
      "sft",
      "--data",
      chat,
      "--validation",
      chat,
      "--test",
      chat,
      "--set",
      `train.processes=${processes}`,
      "--set",
      `train.batch_size=${batch}`,
      "--set",
      `train.fsdp=${fsdp}`,
      "--set",
      "adapter.dropout=0",
      "--set",
      "train.epochs=6",
      "--set",
      "train.lr=1e-2",
      "--set",
      "data.packing=false",
      "--set",
      "generation.eval_samples=0",
    ]);
    assert.equal(r.status, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    return {
      evals: (lines.filter((l) => l.type === "eval") as { loss: number }[]).map((e) => e.loss),
      result: lines.find((l) => l.kind === "result") as { test: { loss: number } },
    };
  };
  const one = run(1, 4);
  // FSDP: every evaluation runs on both shards, and the test split is scored from the adapter
  // gathered whole into the checkpoint, so equal test losses also check the gathering.
  for (const two of [run(2, 2), run(2, 2, true)]) {
    assert.equal(two.evals.length, one.evals.length);
    two.evals.forEach((l, i) => assert.ok(Math.abs(l - one.evals[i]!) < 1e-4, `evaluation ${i}: ${l} vs ${one.evals[i]}`));
    assert.ok(two.evals.at(-1)! < two.evals[0]!);
    assert.ok(Math.abs(two.result.test.loss - one.result.test.loss) < 1e-4);
  }
});

test("sft: kill -9 during training, then --resume: the same test loss as an uninterrupted run", async () => {
  const dir = tempDir();
  const chat = writeJsonl(
    join(dir, "chat.jsonl"),
    QA.map(([q, a]) => ({
      messages: [
        { role: "user", content: q },
        { role: "assistant", content: a },
      ],
    })),
  );
  const model = tinyLm([EXAMPLE_DATA, chat]);
  const args = (store: string) => [
    ...common(store, model),
    "--task",
    "sft",
    "--data",
    chat,
    "--validation",
    chat,
    "--test",
    chat,
    "--max-steps",
    "60",
    "--set",
    "train.eval_every=10",
    "--set",
    "train.batch_size=2",
    "--set",
    "train.lr=1e-2",
    "--set",
    "generation.eval_samples=0",
  ];
  const reference = hone(args(join(dir, "reference")));
  assert.equal(reference.status, 0, reference.stderr);
  const expected = jsonLines(reference.stdout).find((l) => l.kind === "result") as { best_step: number; test: { loss: number } };

  const store = join(dir, "store");
  const { out, runId } = await trainUntilFirstCheckpoint(args(store));
  assert.ok(runId && !jsonLines(out).some((l) => l.kind === "result"), "killed in the middle of training");
  assert.equal(await settled(store, runId), "interrupted"); // the engine sees stdin close, saves and stops
  const resumed = hone(["--store", store, "train", "--resume", runId, "--json"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  const lines = jsonLines(resumed.stdout);
  assert.ok((lines.find((l) => l.type === "started") as { start_step: number }).start_step > 0, "continued from a checkpoint");
  const res = lines.find((l) => l.kind === "result") as { run: string; best_step: number; test: { loss: number } };
  assert.equal(res.run, runId);
  assert.equal(res.best_step, expected.best_step);
  assert.ok(Math.abs(res.test.loss - expected.test.loss) < 1e-6, `${res.test.loss} vs ${expected.test.loss}`);
});

test("seq2seq: a tiny T5 learns prompt/completion pairs through the CLI (encoder reads, decoder learns); generate and merge work", () => {
  const dir = tempDir();
  const data = writeJsonl(
    join(dir, "pairs.jsonl"),
    QA.map(([q, a]) => ({ prompt: q, completion: a })),
  );
  const store = join(dir, "store");
  const model = tinyLm([EXAMPLE_DATA, data], "seq2seq");
  // Full fine-tuning: LoRA on a random-weight T5 learns the answers (validation loss 0.08) but
  // not which prompt gets which (the frozen random cross-attention barely reads the encoder).
  const r = hone([
    ...common(store, model),
    "--task",
    "sft",
    "--data",
    data,
    "--validation",
    data,
    "--test",
    data,
    "--name",
    "t5",
    "--set",
    "adapter.method=none",
    "--set",
    "train.epochs=30",
    "--set",
    "train.batch_size=2",
    "--set",
    "train.lr=2e-3",
    "--set",
    "train.warmup_ratio=0",
    "--set",
    "train.eval_every=24",
  ]);
  assert.equal(r.status, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  const evals = lines.filter((l) => l.type === "eval") as { loss: number }[];
  assert.ok(evals.at(-1)!.loss < evals[0]!.loss * 0.5, `validation loss ${evals[0]!.loss} -> ${evals.at(-1)!.loss}`);
  const res = lines.find((l) => l.kind === "result") as { run: string; test: { exact_match: number; generated: number } };
  assert.equal(res.test.generated, QA.length);
  assert.ok(res.test.exact_match >= 0.75, `exact match ${res.test.exact_match}`);
  const cfg = JSON.parse(readFileSync(join(store, "runs", res.run, "config.json"), "utf8"));
  assert.equal(cfg.lm.architecture, "seq2seq");
  assert.equal(cfg.lm.packing, false);

  // The data doctor shows the source, then the learnt target with its end token, and no packing.
  const doc = hone(["data", "inspect", "--data", data, "--model", model, "--set", "task=sft", "--json"]);
  assert.equal(doc.status, 0, doc.stderr);
  const report = JSON.parse(doc.stdout) as { task: string; preview: string; packing: unknown };
  assert.equal(report.task, "sft (encoder-decoder)");
  assert.equal(report.packing, null);
  assert.match(report.preview, /^.+<\/s>⟦.+<\/s>⟧$/);

  const gen = hone(["--store", store, "generate", "t5", "--prompt", QA[0]![0]]);
  assert.equal(gen.status, 0, gen.stderr);
  assert.equal((jsonLines(gen.stdout)[0] as { generation: string }).generation, QA[0]![1]);
  // A LoRA adapter on an encoder-decoder trains, is kept as a peft folder, and merges into a plain T5.
  const lora = hone([...common(store, model), "--task", "sft", "--data", data, "--name", "t5-lora", "--set", "train.epochs=1", "--set", "train.batch_size=4"]);
  assert.equal(lora.status, 0, lora.stderr);
  const loraRun = (jsonLines(lora.stdout).find((l) => l.kind === "result") as { run: string }).run;
  assert.equal(JSON.parse(readFileSync(join(store, "runs", loraRun, "model", "adapter_config.json"), "utf8")).task_type, "SEQ_2_SEQ_LM");
  const merged = hone(["--store", store, "merge", "t5-lora"]);
  assert.equal(merged.status, 0, merged.stderr);
  assert.equal(JSON.parse(readFileSync(join(store, "runs", loraRun, "merged", "config.json"), "utf8")).model_type, "t5");

  // Chat rows and preference tuning are refused for an encoder-decoder, with the place and a hint.
  const chat = writeJsonl(join(dir, "chat.jsonl"), [
    {
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: "hello" },
      ],
    },
  ]);
  const bad = hone([...common(store, model), "--task", "sft", "--data", chat]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /prompt\/completion/);
  assert.match(bad.stderr, /chat\.jsonl:1/);
  assert.doesNotMatch(bad.stderr, /at .*\.js:\d+/);
  const dpo = hone([...common(store, model), "--task", "dpo", "--data", data]);
  assert.notEqual(dpo.status, 0);
  assert.match(dpo.stderr, /encoder-decoder/);
});

test("reward model: pairwise training ranks held-out chosen answers above rejected ones; it scores, it does not generate", () => {
  const { train, heldOut, test2, store } = politePairs();
  const r = hone([
    ...common(store, tinyLm([EXAMPLE_DATA, train])),
    "--task",
    "reward",
    "--data",
    train,
    "--validation",
    heldOut,
    "--test",
    test2,
    "--name",
    "rm",
    "--set",
    "train.epochs=2",
    "--set",
    "train.batch_size=8",
    "--set",
    "train.lr=5e-3",
  ]);
  assert.equal(r.status, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  const res = lines.find((l) => l.kind === "result") as {
    run: string;
    validation: { reward_accuracy: number; count: number; task: string };
    test: { reward_accuracy: number; reward_margin: number; loss: number; count: number };
  };
  assert.equal(res.validation.task, "reward");
  assert.equal(res.validation.count, 50);
  // A new score layer starts near chance; after two epochs it ranks unseen pairs.
  assert.ok(res.validation.reward_accuracy > 0.9, `held-out reward accuracy ${res.validation.reward_accuracy}`);
  assert.ok(res.test.reward_accuracy > 0.9 && res.test.reward_margin > 0 && res.test.loss < Math.LN2, JSON.stringify(res.test));
  // The trained score layer is saved beside the adapter (peft's modules_to_save).
  const adapter = JSON.parse(readFileSync(join(store, "runs", res.run, "model", "adapter_config.json"), "utf8"));
  assert.equal(adapter.task_type, "SEQ_CLS");
  const ev = hone(["--store", store, "eval", "rm", "--data", heldOut, "--json"]);
  assert.equal(ev.status, 0, ev.stderr);
  assert.match(ev.stdout, /reward_accuracy/);
  const gen = hone(["--store", store, "generate", "rm", "--prompt", "hello"]);
  assert.equal(gen.status, 2);
  assert.match(gen.stderr, /reward model/);
});

test("QLoRA: adapter.quantize nf4 holds the base in 4 bits and learns nearly as the full-precision base does; the run generates and merges", () => {
  const dir = tempDir();
  const chat = writeChat(join(dir, "chat.jsonl"));
  const model = tinyLm([EXAMPLE_DATA, chat]);
  const run = (store: string, sets: string[]) => {
    const r = hone(
      tinySftArgs(store, model, chat, "q", [
        "train.threads=1",
        "data.max_length=64",
        "train.epochs=6",
        "train.lr=1e-2",
        "train.batch_size=4",
        "generation.eval_samples=2",
        ...sets,
      ]),
    );
    assert.equal(r.status, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    return {
      started: lines.find((l) => l.type === "started") as { parameters: number; trainable_parameters: number },
      evals: (lines.filter((l) => l.type === "eval") as { loss: number }[]).map((e) => e.loss),
      test: (lines.find((l) => l.kind === "result") as { test: { loss: number } }).test,
    };
  };
  const full = run(join(dir, "full"), []);
  const store = join(dir, "nf4");
  const q = run(store, ["adapter.quantize=nf4"]);
  // The same adapter trains; the blocks' matrices are packed two 4-bit values a byte.
  assert.equal(q.started.trainable_parameters, full.started.trainable_parameters);
  assert.ok(q.started.parameters < full.started.parameters, `${q.started.parameters} parameters held vs ${full.started.parameters}`);
  assert.ok(q.evals.at(-1)! < q.evals[0]! * 0.5, `validation loss ${q.evals[0]} -> ${q.evals.at(-1)}`);
  assert.ok(Math.abs(q.test.loss - full.test.loss) < 0.1 * full.test.loss, `test loss ${q.test.loss} (nf4) vs ${full.test.loss}`);
  const merged = hone(["--store", store, "merge", "q", "--out", join(dir, "merged")]);
  assert.equal(merged.status, 0, merged.stderr);
  assert.ok(existsSync(join(dir, "merged", "model.safetensors")));
  // A 4-bit base is for adapters.
  const bad = hone(tinySftArgs(join(dir, "bad"), model, chat, "bad", ["adapter.method=none", "adapter.quantize=nf4"]));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /a 4-bit base trains through an adapter/);
});
