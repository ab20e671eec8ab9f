// `hone export --format gguf` on a tiny LoRA sft run through the real CLI and engine: the adapter
// merged, the file written in each type, read back and compared with PyTorch (f16 and q8_0 within
// their tolerance, q4_0 reported), the chat template in its metadata, a Modelfile beside it; and
// the clear errors for a classifier run and for a type of the other format.
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { DEFAULT_SERVE } from "../serve/app.js";
import { createChatApp } from "../serve/chat-app.js";
import { GgufChatBackend } from "../serve/gguf-chat.js";
import { join } from "node:path";
import { EXAMPLE_DATA, hone, jsonLines, tempDir, tinyLm, tinySftArgs, tinyTrainArgs } from "../testing/fixtures.js";

test("GGUF export: f16, q8_0, q4_0 and q4_k_m read back and compared with PyTorch; template and Modelfile; served from Node by llama.cpp; bad requests refused", async () => {
  const dir = tempDir();
  const chat = join(dir, "chat.jsonl");
  const rows = ["what is the refund window?|thirty days.", "do you ship abroad?|yes, to europe.", "can i pay with paypal?|yes."].map((x) => {
    const [q, a] = x.split("|");
    return JSON.stringify({
      messages: [
        { role: "user", content: q },
        { role: "assistant", content: a },
      ],
    });
  });
  writeFileSync(chat, `${rows.join("\n")}\n`);
  const store = join(dir, "store");
  const model = tinyLm([EXAMPLE_DATA, chat]);
  // Learnt by heart (as in the sft e2e test), so that greedy answers are sharp enough to compare.
  const sets = [
    "train.threads=1",
    "data.max_length=64",
    "train.epochs=24",
    "train.batch_size=2",
    "train.lr=1e-2",
    "train.warmup_ratio=0",
    "adapter.method=lora",
    "generation.eval_samples=2",
  ];
  const r = hone(tinySftArgs(store, model, chat, "chat", sets));
  assert.equal(r.status, 0, r.stderr);
  const template = readFileSync(join(model, "tokenizer_config.json"), "utf8");
  const chatTemplate = (JSON.parse(template) as { chat_template?: string }).chat_template ?? readFileSync(join(model, "chat_template.jinja"), "utf8");

  const sizes: Record<string, number> = {};
  for (const type of ["f16", "q8_0", "q4_0", "q4_k_m"]) {
    const e = hone(["--store", store, "export", "chat", "--format", "gguf", "--quantize", type, "--json"]);
    assert.equal(e.status, 0, e.stderr);
    const g = JSON.parse(e.stdout) as {
      file: string;
      dir: string;
      bytes: number;
      check: { prompts: number; kl: number; max_kl: number | null; top1_agreement: number; calibration: { method: string; tokens: number } };
    };
    assert.ok(existsSync(g.file) && g.bytes > 0);
    sizes[type] = g.bytes;
    assert.equal(g.check.prompts, 2, "the run's own sampled prompts");
    // The 4-bit types are rounded by GPTQ on the run's training tokens by default; the others round to nearest.
    const fourBit = type === "q4_0" || type === "q4_k_m";
    assert.equal(g.check.calibration.method, fourBit ? "gptq" : "none", type);
    assert.ok(fourBit ? g.check.calibration.tokens > 0 : g.check.calibration.tokens === 0, type);
    if (g.check.max_kl !== null) assert.ok(g.check.kl <= g.check.max_kl, `${type}: KL ${g.check.kl}`);
    else assert.ok(Number.isFinite(g.check.kl) && g.check.kl >= 0);
    const bytes = readFileSync(g.file);
    assert.equal(bytes.subarray(0, 4).toString("latin1"), "GGUF");
    assert.ok(bytes.includes(Buffer.from("tokenizer.chat_template")) && bytes.includes(Buffer.from(chatTemplate)), "the chat template travels in the metadata");
    const modelfile = readFileSync(join(g.dir, "Modelfile"), "utf8");
    assert.match(modelfile, /^FROM \.\/model\.gguf$/m);
    assert.match(modelfile, /^PARAMETER stop "<\|im_end\|>"$/m);
  }
  assert.ok(sizes.f16! > sizes.q8_0! && sizes.q8_0! > sizes.q4_0!, JSON.stringify(sizes));
  // --imatrix: the importance matrix is measured on the run's training tokens.
  const weighted = hone([
    "--store",
    store,
    "export",
    "chat",
    "--format",
    "gguf",
    "--quantize",
    "q4_0",
    "--imatrix",
    "--out",
    join(store, "q4-imatrix"),
    "--json",
  ]);
  assert.equal(weighted.status, 0, weighted.stderr);
  const imatrix = (JSON.parse(weighted.stdout) as { check: { calibration: { method: string; tokens: number } } }).check.calibration;
  assert.equal(imatrix.method, "imatrix");
  assert.ok(imatrix.tokens > 0);

  // hone serve of the f16 export: llama.cpp in this process answers what the run learnt, as JSON
  // and as a stream, through the same OpenAI-compatible app as the PyTorch server.
  const exported = join(store, "runs", JSON.parse(hone(["--store", store, "runs", "show", "chat", "--json"]).stdout).id, "export", "gguf-f16");
  const backend = await GgufChatBackend.start(exported, 2);
  try {
    const { app } = createChatApp(backend, DEFAULT_SERVE, 32);
    const post = (body: unknown) =>
      app.request("/v1/chat/completions", { method: "POST", headers: { host: "localhost", "content-type": "application/json" }, body: JSON.stringify(body) });
    const res = (await (await post({ messages: [{ role: "user", content: "do you ship abroad?" }] })).json()) as {
      choices: { message: { content: string }; finish_reason: string }[];
    };
    assert.deepEqual([res.choices[0]!.message.content, res.choices[0]!.finish_reason], ["yes, to europe.", "stop"]);
    const streamed = (await (await post({ messages: [{ role: "user", content: "what is the refund window?" }], stream: true })).text())
      .split("\n")
      .filter((l) => l.startsWith("data: {"))
      .map((l) => (JSON.parse(l.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]!.delta.content ?? "")
      .join("");
    assert.equal(streamed, "thirty days.");
    // A client that gave up: nothing more is generated for it.
    const gone = new AbortController();
    gone.abort();
    const prompt = await backend.promptIds([{ role: "user", content: "can i pay with paypal?" }]);
    assert.equal((await backend.complete(prompt, { max_tokens: 16, temperature: 0, top_p: 1, seed: 0 }, () => {}, gone.signal)).finish_reason, "cancelled");
  } finally {
    await backend.close();
  }
  // hone generate with the export: the same answers, from the CLI.
  const gen = hone(["generate", exported, "--prompt", "can i pay with paypal?"]);
  assert.equal(gen.status, 0, gen.stderr);
  assert.deepEqual(
    jsonLines(gen.stdout).map((l) => [l.generation, l.stopped]),
    [["yes.", true]],
  );
  // A file that is not the one exported is refused before it is loaded.
  const copy = join(dir, "copy");
  cpSync(exported, copy, { recursive: true });
  appendFileSync(join(copy, "model.gguf"), "x");
  await assert.rejects(GgufChatBackend.start(copy), /is not the file that was exported/);

  const wrongType = hone(["--store", store, "export", "chat", "--format", "gguf", "--quantize", "int8"]);
  assert.equal(wrongType.status, 2);
  assert.match(wrongType.stderr, /--quantize int8 is not a gguf type/);
  const notFourBit = hone(["--store", store, "export", "chat", "--format", "gguf", "--quantize", "q8_0", "--calibrate", "gptq"]);
  assert.equal(notFourBit.status, 2);
  assert.match(notFourBit.stderr, /--calibrate gptq rounds 4-bit files, not q8_0/);
  const classifier = hone(tinyTrainArgs(store, ["--set", "train.epochs=1", "--name", "cls"]));
  assert.equal(classifier.status, 0, classifier.stderr);
  const notLm = hone(["--store", store, "export", jsonLines(classifier.stdout).find((l) => l.kind === "result")!.run as string, "--format", "gguf"]);
  assert.equal(notLm.status, 2);
  assert.match(notLm.stderr, /generative run/);
  assert.doesNotMatch(notLm.stderr, /\n\s+at /);
});
