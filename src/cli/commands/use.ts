// Using a finished run: `hone eval`, `hone predict`, `hone generate`, `hone merge`.
import { Option, type Command } from "commander";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { load } from "../../deploy/runtime.js";
import { generate, merge } from "../../generative/generate.js";
import { evaluate, predict } from "../../run/sdk.js";
import { DEFAULT_MAX_NEW_TOKENS } from "../../serve/chat-app.js";
import { GgufChatBackend, ggufExport } from "../../serve/gguf-chat.js";
import { readPrompts, readTexts } from "../input.js";
import { collect, json, metricsTable, out } from "../shared.js";

export function registerUse(program: Command): void {
  program
    .command("eval")
    .description("Metrics of a run on its test split (computed once after training), or on a labelled file")
    .argument("<run>", "run id, name or 'last'")
    .option("--data <file>", "evaluate on this labelled file instead")
    .option("--per-class", "also print per-class precision / recall / F1")
    .option("--json", "print JSON")
    .action(async (ref: string, o: { data?: string; perClass?: boolean; json?: boolean }) => {
      const r = await evaluate(ref, { store: program.opts().store, data: o.data });
      if (o.json) json({ run: r.run.id, source: r.source, metrics: r.metrics });
      else out(`run ${r.run.id} — ${r.source}\n\n${metricsTable(r.run.task, r.metrics, o.perClass)}`);
    });

  program
    .command("predict")
    .description("Predict labels; JSON lines out")
    .argument("<run>", "run id, name or 'last', or an exported bundle directory (ONNX, no Python)")
    .option("--input <file>", "JSONL with a text field, or plain text lines; '-' or none = stdin")
    .option("--text-field <name>", "field of JSONL input rows ('-': the whole row, e.g. {question, context} for extractive_qa)", "text")
    .option("--top-k <n>", "how many ranked labels to include", "3")
    .action(async (ref: string, o: { input?: string; textField: string; topK: string }) => {
      const texts = await readTexts(o.input, o.textField);
      let preds: Awaited<ReturnType<typeof predict>>;
      if (existsSync(join(ref, "bundle.json"))) {
        const model = await load(ref);
        preds = await model.predict(texts, { topK: Number(o.topK) });
        await model.close();
      } else preds = await predict(ref, texts, { store: program.opts().store, topK: Number(o.topK) });
      preds.forEach((p, i) => out(JSON.stringify({ text: texts[i], ...p })));
    });

  program
    .command("generate")
    .description("Answer prompts with a generative run (sft / dpo); JSON lines out")
    .argument("<run>", "run id, name or 'last', or a GGUF export folder (hone export --format gguf)")
    .option("--prompt <text>", "one prompt, sent as a user message (repeatable)", collect, [])
    .option("--input <file>", 'JSONL: {"messages": [...]} (chat) or {"prompt": "..."} per line; \'-\' = stdin')
    .option("--raw", "send --prompt as plain text, without the chat template")
    .option("--max-new-tokens <n>", "longest answer, in tokens")
    .option("--temperature <x>", "0 = greedy (the default)")
    .option("--top-p <x>", "nucleus sampling")
    .option("--seed <n>", "sampling seed")
    .addHelpText(
      "after",
      `
Examples:
  hone generate last --prompt "where is my parcel?"
  hone generate last --input prompts.jsonl --temperature 0.7 --seed 1`,
    )
    .action(
      async (
        ref: string,
        o: { prompt: string[]; input?: string; raw?: boolean; maxNewTokens?: string; temperature?: string; topP?: string; seed?: string },
      ) => {
        const prompts = o.prompt.length > 0 ? o.prompt.map((p) => (o.raw ? p : [{ role: "user", content: p }])) : await readPrompts(o.input);
        const n = (v?: string) => (v === undefined ? undefined : Number(v));
        if (ggufExport(ref)) {
          // A GGUF export: llama.cpp in this process, one prompt after the other.
          const backend = await GgufChatBackend.start(ref, 1);
          try {
            const params = {
              max_tokens: n(o.maxNewTokens) ?? DEFAULT_MAX_NEW_TOKENS,
              temperature: n(o.temperature) ?? 0,
              top_p: n(o.topP) ?? 1,
              seed: n(o.seed) ?? 0,
            };
            for (const p of prompts) {
              const r = await backend.complete(await backend.encode(p), params);
              out(JSON.stringify({ prompt: p, generation: r.text, stopped: r.finish_reason === "stop" }));
            }
          } finally {
            await backend.close();
          }
          return;
        }
        const gens = await generate(ref, prompts, {
          store: program.opts().store,
          max_new_tokens: n(o.maxNewTokens),
          temperature: n(o.temperature),
          top_p: n(o.topP),
          seed: n(o.seed),
        });
        gens.forEach((g, i) => out(JSON.stringify({ prompt: prompts[i], generation: g.text, stopped: g.stopped })));
      },
    );

  program
    .command("merge")
    .description("Fold a run's LoRA / DoRA adapter into its base model: a plain Hugging Face model directory")
    .argument("<run>", "run id, name or 'last'")
    .option("--out <dir>", "where the merged model goes (default: runs/<id>/merged)")
    .addOption(new Option("--dtype <dtype>", "precision of the merged weights").choices(["fp32", "bf16"]).default("fp32"))
    .action(async (ref: string, o: { out?: string; dtype: "fp32" | "bf16" }) => {
      const r = await merge(ref, { store: program.opts().store, out: o.out, dtype: o.dtype });
      out(`merged model: ${r.path} (${(r.bytes / 2 ** 20).toFixed(1)} MiB)`);
    });
}
