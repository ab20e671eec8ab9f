// Benchmark: a generative run in every format it ships in, on this machine's CPU at batch 1.
//   node bench/edge.mjs run [support-chat] [clinc150] [--tag NAME] [--calibrate gptq|imatrix|none] -> bench/results/edge-<task>-<tag>.json
//   node bench/edge.mjs render                                     -> the "edge" section of docs/benchmarks.md
// One run (trained here: examples/support-chat/sft.yaml, or bench/configs/edge-clinc150.yaml on
// CLINC150 as chat) is merged and exported as GGUF f16, q8_0, q4_0 and q4_k_m. Each format answers the
// run's test prompts greedily, one at a time: PyTorch fp32 and bf16 through bench/peers/lm_cpu.py
// (prefill, then one token at a time with a KV cache), GGUF through Hone's llama.cpp backend in Node
// (the `hone serve` path). Time to first token = prompt evaluation + the first token; prompt
// tokens/s = prompt tokens / that time; generation tokens/s = the tokens after the first (the stop
// token included, on both sides) / their time. Exact match: the answer equals the reference (trimmed). Test loss: next-token loss on the
// answers of the test split, PyTorch's own, and for GGUF the file's weights read back by
// transformers (dequantized: the file's numbers, PyTorch's arithmetic).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { machine, root, sh, writeDocSection } from "./lib.mjs";

const results = join(root, "bench", "results");
const out = join(root, "bench", "out");
const python = process.env.HONE_PYTHON ?? join(root, ".venv", "bin", "python");
const [mode = "render", ...rest] = process.argv.slice(2);
const FORMATS = ["f16", "q8_0", "q4_0", "q4_k_m"];
const THREADS = 2;

const TASKS = {
  "support-chat": { config: join(root, "examples", "support-chat", "sft.yaml"), set: ["generation.eval_samples=1000"] },
  clinc150: { config: join(root, "bench", "configs", "edge-clinc150.yaml"), set: [], prepare: prepareClinc },
};

function prepareClinc() {
  const data = JSON.parse(readFileSync(join(root, "..", "shared", "data", "clinc150", "data_full.json"), "utf8"));
  const system = "Name the intent of the message, nothing else.";
  const chat = (text, intent) => ({
    messages: [
      { role: "system", content: system },
      { role: "user", content: text },
      { role: "assistant", content: intent },
    ],
  });
  const take = (rows, n) => {
    const seen = new Map();
    return rows.filter(([, intent]) => {
      const k = seen.get(intent) ?? 0;
      seen.set(intent, k + 1);
      return k < n;
    });
  };
  const dir = join(out, "edge-clinc150");
  mkdirSync(dir, { recursive: true });
  const write = (name, rows) => writeFileSync(join(dir, name), `${rows.map(([t, i]) => JSON.stringify(chat(t, i))).join("\n")}\n`);
  write("train.jsonl", take(data.train, 10));
  write("test.jsonl", take(data.test, 2));
}

const hone = (store, args) => sh(process.execPath, [join(root, "bin", "hone"), "--store", store, ...args], { stdio: ["ignore", "pipe", "inherit"] });

async function runTask(name, tag, calibrate) {
  const { GgufChatBackend } = await import(join(root, "dist", "serve", "gguf-chat.js"));
  const { generationMetrics } = await import(join(root, "dist", "generative", "metrics.js"));
  const { LmEncoder } = await import(join(root, "dist", "generative", "encode.js"));
  const task = TASKS[name];
  task.prepare?.();
  const store = join(out, `store-edge-${name}`);
  rmSync(store, { recursive: true, force: true });
  process.stderr.write(`== ${name}: training\n`);
  const trained = hone(store, ["train", task.config, "--json", ...task.set.flatMap((s) => ["--set", s])]);
  const result = JSON.parse(trained.stdout.trim().split("\n").at(-1));
  const runDir = join(store, "runs", result.run);
  const files = JSON.parse(readFileSync(join(runDir, "data", "run-files.json"), "utf8"));
  const plan = JSON.parse(readFileSync(join(runDir, "plan.json"), "utf8"));
  const samples = files.samples.test;
  const merged = join(out, `edge-${name}-merged`);
  rmSync(merged, { recursive: true, force: true });
  hone(store, ["merge", result.run, "--out", merged]);
  const exports = {};
  for (const q of FORMATS) {
    process.stderr.write(`== ${name}: export gguf ${q}\n`);
    const dir = join(out, `edge-${name}-${q}`);
    rmSync(dir, { recursive: true, force: true });
    hone(store, ["export", result.run, "--format", "gguf", "--quantize", q, "--out", dir, ...(calibrate ? ["--calibrate", calibrate] : [])]);
    exports[q] = dir;
  }
  // The prompts as every format sees them: the run's template and tokenizer (carried by the export).
  const first = await GgufChatBackend.start(exports.f16, 1);
  const prompts = [];
  for (const s of samples) prompts.push(await first.encode(s.prompt));
  await first.close();
  const promptFile = join(out, `edge-${name}-prompts.json`);
  writeFileSync(promptFile, JSON.stringify({ prompts }));
  const maxNew = JSON.parse(readFileSync(join(runDir, "config.json"), "utf8")).lm.generation.max_new_tokens;
  const test = files.shards.test;
  const decoder = new LmEncoder(exports.f16, null, null, 4096, "assistant");
  const summarise = async (gens) => {
    const texts = [];
    for (const g of gens) texts.push(await decoder.decode(g.new.filter((t) => !plan.stop_token_ids.includes(t))));
    const ttft = gens.map((g) => g.first_s).sort((a, b) => a - b);
    const promptTokens = gens.reduce((a, g) => a + g.prompt_tokens, 0);
    const firstTime = gens.reduce((a, g) => a + g.first_s, 0);
    // Every evaluated token counts, the stop token too (the loop computes it like any other).
    const laterTokens = gens.reduce((a, g) => a + g.new.length - 1, 0);
    const laterTime = gens.reduce((a, g) => a + g.rest_s, 0);
    return {
      prompts: gens.length,
      prompt_tokens_per_s: promptTokens / firstTime,
      generation_tokens_per_s: laterTokens / laterTime,
      ttft_ms_p50: 1000 * ttft[Math.floor(ttft.length / 2)],
      ...generationMetrics(
        samples.map((s) => s.answer),
        texts,
        null,
      ),
      per_prompt: gens.map((g) => ({ prompt_tokens: g.prompt_tokens, tokens: g.new.length, first_s: g.first_s, rest_s: g.rest_s })),
    };
  };
  const peer = (args) =>
    JSON.parse(
      sh(python, [join(root, "bench", "peers", "lm_cpu.py"), ...args.map(String)], { stdio: ["ignore", "pipe", "inherit"] })
        .stdout.trim()
        .split("\n")
        .at(-1),
    );
  const testArgs = ["--test", test.tokens, test.offsets, test.loss_mask];
  const rows = [];
  for (const dtype of ["fp32", "bf16"]) {
    process.stderr.write(`== ${name}: PyTorch ${dtype}\n`);
    const p = peer([
      "--model",
      merged,
      "--dtype",
      dtype,
      "--prompts",
      promptFile,
      ...testArgs,
      "--max-new-tokens",
      maxNew,
      "--stop",
      ...plan.stop_token_ids,
      "--threads",
      THREADS,
    ]);
    const bytes = readdirSync(merged)
      .filter((f) => f.endsWith(".safetensors"))
      .reduce((a, f) => a + statSync(join(merged, f)).size, 0);
    rows.push({
      format: `PyTorch ${dtype}`,
      bytes: dtype === "bf16" ? bytes / 2 : bytes,
      test_loss: p.test_nll / p.test_tokens,
      ...(await summarise(p.generations)),
      versions: { torch: p.torch, transformers: p.transformers },
    });
  }
  for (const q of FORMATS) {
    process.stderr.write(`== ${name}: GGUF ${q} in Node (llama.cpp)\n`);
    const backend = await GgufChatBackend.start(exports[q], 1);
    const params = { max_tokens: maxNew, temperature: 0, top_p: 1, seed: 0 };
    await backend.complete(prompts[0], { ...params, max_tokens: 4 }); // warm-up, as for PyTorch
    const gens = [];
    for (const ids of prompts) {
      const t0 = performance.now();
      let firstAt = null;
      const r = await backend.complete(ids, params, () => {
        firstAt ??= performance.now();
      });
      const end = performance.now();
      firstAt ??= end;
      // The text's token ids are not kept by the backend; its counts are. llama.cpp computes the
      // stop token and ends without yielding it: counted here, as on the PyTorch side.
      const tokens = r.completion_tokens + (r.finish_reason === "stop" ? 1 : 0);
      gens.push({ prompt_tokens: ids.length, tokens, text: r.text, first_s: (firstAt - t0) / 1000, rest_s: (end - firstAt) / 1000 });
    }
    await backend.close();
    const ttft = gens.map((g) => g.first_s).sort((a, b) => a - b);
    const loss = peer(["--model", exports[q], "--gguf", "model.gguf", ...testArgs, "--threads", THREADS]);
    rows.push({
      format: `GGUF ${q}`,
      bytes: statSync(join(exports[q], "model.gguf")).size,
      test_loss: loss.test_nll / loss.test_tokens,
      prompts: gens.length,
      prompt_tokens_per_s: gens.reduce((a, g) => a + g.prompt_tokens, 0) / gens.reduce((a, g) => a + g.first_s, 0),
      generation_tokens_per_s: gens.reduce((a, g) => a + Math.max(0, g.tokens - 1), 0) / gens.reduce((a, g) => a + g.rest_s, 0),
      ttft_ms_p50: 1000 * ttft[Math.floor(ttft.length / 2)],
      ...generationMetrics(
        samples.map((s) => s.answer),
        gens.map((g) => g.text),
        null,
      ),
      check: JSON.parse(readFileSync(join(exports[q], "gguf.json"), "utf8")).check,
      per_prompt: gens.map((g) => ({ prompt_tokens: g.prompt_tokens, tokens: g.tokens, first_s: g.first_s, rest_s: g.rest_s })),
    });
  }
  const record = {
    bench: "edge",
    task: name,
    command: `node bench/edge.mjs run ${name}${tag !== "cpu" ? ` --tag ${tag}` : ""}${calibrate ? ` --calibrate ${calibrate}` : ""}`,
    date: new Date().toISOString(),
    machine: machine("cpu"),
    settings: {
      config: task.config.slice(root.length + 1),
      set: task.set,
      threads: THREADS,
      max_new_tokens: maxNew,
      model: result.model ?? null,
      calibrate: calibrate ?? "default",
    },
    run: { id: result.run, wall_s: trained.wall, test: result.test },
    rows,
  };
  mkdirSync(results, { recursive: true });
  const file = join(results, `edge-${name}-${tag}.json`);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  process.stderr.write(`wrote ${file}\n`);
  for (const d of [merged, ...Object.values(exports)]) rmSync(d, { recursive: true, force: true });
}

/** How a row's file was rounded: older files carry imatrix_tokens only (0: rounded to nearest). */
function calibrationOf(row) {
  const c = row?.check?.calibration;
  if (c) return c.method === "none" ? "nearest" : c.method;
  return row?.check?.imatrix_tokens ? "imatrix" : "nearest";
}

function render() {
  const files = existsSync(results)
    ? readdirSync(results)
        .filter((f) => /^edge-.*\.json$/.test(f))
        .sort()
    : [];
  const mib = (b) => (b / 2 ** 20).toFixed(0);
  let md = "<!-- edge:start -->\n## Generative models on the CPU: PyTorch vs GGUF\n\n";
  md +=
    `One fine-tuned run (SmolLM2-135M-Instruct, LoRA merged), each format answering the run's test prompts greedily at batch 1 on this machine's CPU: PyTorch on all cores (${THREADS} threads) through a hand-written KV-cache loop (bench/peers/lm_cpu.py), GGUF through Hone's llama.cpp backend in Node (node-llama-cpp, the \`hone serve\` path) with its default threads, all cores but one (the last runs Node's token loop). ` +
    "TTFT: prompt evaluation plus the first token (median); prompt tokens/s: prompt tokens / TTFT; generation tokens/s: the tokens after the first, the stop token included on both sides / their time. " +
    "Test loss: mean next-token loss on the answers of the test split (GGUF: the file's weights read back by transformers, dequantized). Exact match: the answer equals the reference. " +
    "Bits/weight: the file's bits over the model's parameters (PyTorch fp32 bytes / 4), metadata included. " +
    "q4_0 keeps the embedding, attention values and MLP down projection at q8_0; q4_k_m is llama.cpp's Q4_K_M recipe, where rows whose length is not a multiple of 256 (576 in SmolLM2-135M: all but the MLP's down projection) take llama.cpp's own fallback, q5_0 for Q4_K and q8_0 for Q6_K, so on this model it is 4-bit only in name. " +
    "How the 4-bit files were rounded is marked on their rows: gptq (the default of `hone export` since 2026-12-05: each layer's output error on the run's training tokens made small, engine/hone_engine/lm/gptq.py; every 4- to 6-bit block, q8_0 as without), imatrix (`--calibrate imatrix`, llama-quantize --imatrix's per-column weights), nearest (`--calibrate none`, as llama-quantize without an imatrix). " +
    "Ratios are against the faster of the PyTorch rows (fp32 or bf16, whichever this CPU runs faster) in the same run.\n";
  for (const f of files) {
    const r = JSON.parse(readFileSync(join(results, f), "utf8"));
    const base = r.rows[0];
    const note = r.note ? `\n${r.note}\n` : "";
    const fastest = r.rows.filter((x) => x.format.startsWith("PyTorch")).reduce((a, b) => (b.generation_tokens_per_s > a.generation_tokens_per_s ? b : a));
    md += `\n### ${r.task}, 4-bit ${calibrationOf(r.rows.find((x) => x.format.includes("q4_0")))}\n\n\`${r.command}\` · ${r.date.slice(0, 10)} · ${r.machine.cpus} × ${r.machine.cpu} · torch ${base.versions?.torch ?? "?"} · ${r.rows[0].prompts} test prompts, at most ${r.settings.max_new_tokens} new tokens · raw: \`bench/results/${f}\`\n\n`;
    md += "| format | file MiB | bits/weight | prompt tok/s | generation tok/s | TTFT p50 ms | test loss | exact match |\n|---|---|---|---|---|---|---|---|\n";
    for (const row of r.rows) {
      const ratio = row.format.startsWith("PyTorch") ? "" : ` (${(row.generation_tokens_per_s / fastest.generation_tokens_per_s).toFixed(2)}x)`;
      md += `| ${row.format}${/q4/.test(row.format) ? ` (${calibrationOf(row)})` : ""} | ${mib(row.bytes)} | ${((row.bytes * 8) / (base.bytes / 4)).toFixed(2)} | ${row.prompt_tokens_per_s.toFixed(0)} | ${row.generation_tokens_per_s.toFixed(1)}${ratio} | ${row.ttft_ms_p50.toFixed(1)} | ${row.test_loss.toFixed(4)} | ${(row.exact_match * 100).toFixed(1)}% |\n`;
    }
    md += note;
  }
  md += "<!-- edge:end -->";
  writeDocSection("edge", md);
  process.stderr.write("rendered the edge section of docs/benchmarks.md\n");
}

if (mode === "run") {
  const at = rest.indexOf("--tag");
  const tag = at >= 0 ? rest[at + 1] : "cpu";
  const names = rest.filter((a, i) => !a.startsWith("--") && (at < 0 || i !== at + 1));
  for (const name of names.length ? names : Object.keys(TASKS))
    await runTask(name, tag, rest.includes("--calibrate") ? rest[rest.indexOf("--calibrate") + 1] : undefined);
  render();
} else render();
