// Deploying a run: `hone export` (ONNX bundles, the trade-off comparison) and `hone serve`.
import { Option, type Command } from "commander";
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { compareDeployments } from "../../deploy/compare.js";
import { exportOnnx, type Quantize } from "../../deploy/export.js";
import { exportGguf, GGUF_CALIBRATIONS, type GgufCalibration, type GgufType } from "../../generative/gguf.js";
import { HoneError } from "../../util/errors.js";
import { DEFAULT_SERVE } from "../../serve/app.js";
import { DEFAULT_MAX_NEW_TOKENS } from "../../serve/chat-app.js";
import { DEFAULT_GENERATING } from "../../serve/chat.js";
import { bundleFor, startChatServer, startServer } from "../../serve/server.js";
import { RunStore, storeDir } from "../../store/store.js";
import { taskPlugin } from "../../tasks/registry.js";
import { pct, table } from "../../util/table.js";
import { withInterrupt } from "../interrupt.js";
import { json, out } from "../shared.js";

/** What `hone serve` offers for a run (by its task). */
function servesOf(ref: string, store?: string): "classify" | "chat" | null {
  const s = new RunStore(storeDir(store));
  try {
    return taskPlugin(s.findRun(ref).task).serves;
  } finally {
    s.close();
  }
}

export function registerDeploy(program: Command): void {
  program
    .command("export")
    .description("Export a run as a self-contained bundle for serving without Python (checked against PyTorch)")
    .argument("<run>", "run id, name or 'last'")
    .addOption(
      new Option("--format <format>", "onnx (encoder tasks) or gguf (generative runs, for llama.cpp / Ollama)").choices(["onnx", "gguf"]).default("onnx"),
    )
    .addOption(
      new Option("--quantize <type>", "onnx: none (fp32), int8 (dynamic) or fp16; gguf: f16 (default), q8_0, q4_0 or q4_k_m").choices([
        "none",
        "int8",
        "fp16",
        "f16",
        "q8_0",
        "q4_0",
        "q4_k_m",
      ]),
    )
    .option("--out <dir>", "bundle directory (default: runs/<id>/export/<format>-<precision>)")
    .addOption(
      new Option(
        "--calibrate <method>",
        "gguf 4-bit: how rounding uses the run's training data: gptq (default: each layer's output error made small), imatrix (llama-quantize --imatrix), none (nearest)",
      ).choices([...GGUF_CALIBRATIONS]),
    )
    .option("--imatrix", "the same as --calibrate imatrix")
    .option("--compare", "measure PyTorch fp32 and ONNX fp32 / fp16 / int8 on the test split: size, latency, throughput, accuracy")
    .option("--json", "print JSON")
    .action(
      async (
        ref: string,
        o: { format: "onnx" | "gguf"; quantize?: string; out?: string; json?: boolean; compare?: boolean; imatrix?: boolean; calibrate?: GgufCalibration },
      ) => {
        const kinds = { onnx: ["none", "int8", "fp16"], gguf: ["f16", "q8_0", "q4_0", "q4_k_m"] }[o.format];
        if (o.quantize !== undefined && !kinds.includes(o.quantize))
          throw new HoneError("usage", `--quantize ${o.quantize} is not a ${o.format} type`, [
            { path: ["--quantize"], message: `${o.format} takes ${kinds.join(", ")}`, hint: `e.g. --format ${o.format} --quantize ${kinds[1]}` },
          ]);
        if (o.format === "gguf") {
          const calibrate = o.calibrate ?? (o.imatrix ? "imatrix" : undefined);
          const g = await exportGguf(ref, { store: program.opts().store, type: (o.quantize ?? "f16") as GgufType, out: o.out, calibrate });
          const cal = g.check.calibration;
          if (o.json) return json(g);
          out(`GGUF: ${g.file} (${g.type}, ${(g.bytes / 2 ** 20).toFixed(1)} MiB) and a Modelfile (ollama create <name> -f ${join(g.dir, "Modelfile")})`);
          return out(
            `${cal && cal.method !== "none" ? `${cal.method === "gptq" ? "GPTQ rounding" : "importance matrix"} from ${cal.tokens} training tokens; ` : ""}read back and compared with PyTorch on ${g.check.prompts} prompts: next-token KL ${g.check.kl.toExponential(2)}${g.check.max_kl === null ? " (reported, not bounded)" : ` (<= ${g.check.max_kl})`}, top-1 agreement ${pct(g.check.top1_agreement)}, max |log p difference| ${g.check.max_abs_logprob_diff.toFixed(3)}`,
          );
        }
        const quantize = (o.quantize ?? "none") as Quantize;
        if (o.compare) {
          const c = await compareDeployments(ref, { store: program.opts().store });
          if (o.json) return json(c);
          out(
            `run ${c.run}: ${c.test_count} test texts, batch-1 latency over ${c.latency_samples} calls, throughput at batch ${c.batch_size}, ${c.threads} threads\n`,
          );
          out(
            table(
              ["form", "runtime", "size", "p50 batch 1", "p99 batch 1", `texts/s batch ${c.batch_size}`, "accuracy"],
              c.rows.map((x) => [
                x.form,
                x.runtime,
                `${(x.bytes / 2 ** 20).toFixed(1)} MiB`,
                `${x.p50_ms.toFixed(2)} ms`,
                `${x.p99_ms.toFixed(2)} ms`,
                x.throughput.toFixed(0),
                pct(x.accuracy),
              ]),
            ),
          );
          return out(`\nplot: ${c.plot}`);
        }
        const r = await exportOnnx(ref, { store: program.opts().store, quantize, out: o.out });
        if (o.json) return json(r);
        out(`bundle: ${r.dir} (model.onnx ${(r.bytes / 2 ** 20).toFixed(1)} MiB)`);
        out(
          table(
            ["head", "max |logit diff|", "top-1 agreement"],
            Object.entries(r.verification).map(([h, v]) => [h, v.max_abs_diff === null ? "-" : v.max_abs_diff.toExponential(2), pct(v.top1_agreement)]),
          ),
        );
      },
    );

  const L = DEFAULT_SERVE.limits;
  program
    .command("serve")
    .description(
      "Serve a bundle (or a run, exported on first use) over HTTP: POST /v1/classify; a generative run: POST /v1/chat/completions (OpenAI-compatible, streaming)",
    )
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
    .option("--max-in-flight <n>", "requests in flight (waiting or answered) before 503", String(L.maxInFlight))
    .option("--batch <n>", "largest micro-batch", String(DEFAULT_SERVE.batch.maxBatch))
    .option("--batch-wait-ms <n>", "how long a request may wait for others to batch with", String(DEFAULT_SERVE.batch.maxWaitMs))
    .option("--threads <n>", "ONNX Runtime / llama.cpp threads (default: all cores but one, which stays with the HTTP side)")
    .option("--max-new-tokens <n>", "generative runs: the longest answer a request may ask for", String(DEFAULT_MAX_NEW_TOKENS))
    .option("--generating <n>", "generative runs: requests generated at once, interleaved token by token (the rest wait)", String(DEFAULT_GENERATING))
    .action(async (ref: string, o: Record<string, string | string[] | undefined>) => {
      const n = (k: string) => Number(o[k]);
      const opts = {
        host: o.host as string,
        apiKey: (o.apiKey as string | undefined) ?? process.env.HONE_API_KEY ?? null,
        allowedHosts: (o.allowedHost as string[] | undefined) ?? [],
        cors: (o.cors as string[] | undefined) ?? [],
        limits: {
          maxTexts: n("maxTexts"),
          maxTextChars: n("maxTextChars"),
          maxBodyBytes: n("maxBodyBytes"),
          timeoutMs: n("timeoutMs"),
          maxInFlight: n("maxInFlight"),
        },
        batch: { maxBatch: n("batch"), maxWaitMs: n("batchWaitMs") },
      };
      const threads = o.threads ? n("threads") : Math.max(1, cpus().length - 1);
      const generative = existsSync(join(ref, "gguf.json")) || (!existsSync(join(ref, "bundle.json")) && servesOf(ref, program.opts().store) !== "classify"); // a run that serves nothing says why (needGenerator)
      const server = generative
        ? await startChatServer(ref, n("port"), opts, program.opts().store, n("maxNewTokens"), n("generating"), o.threads ? threads : undefined)
        : await startServer(await bundleFor(ref, program.opts().store), n("port"), opts, threads);
      process.stderr.write(`serving ${ref} at ${server.url} (${server.routes}, GET /healthz /readyz /metrics /openapi.json)\n`);
      // The first Ctrl-C / SIGTERM finishes the requests in flight, a second one exits at once.
      await withInterrupt(
        "finishing requests in flight",
        (signal) =>
          new Promise<void>((resolve, reject) => {
            signal.addEventListener("abort", () => void server.close().then(resolve));
            void server.fatal.then((e) => server.close().then(() => reject(e), reject));
          }),
      );
    });
}
