// The writer of augmentation: a catalog generative model, a model folder, or a finished sft/dpo
// run; and its generation in chunks, each saved whole as it ends, so that an interrupted
// augmentation goes on from the last chunk (each chunk has its own seed: the same text again).
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ResolvedAugment, ResolvedConfig } from "../config/resolved.js";
import { engineFailure, startEngine, type EngineResult } from "../engine/process.js";
import { readSpecialTokens, ChatTemplate, modelTemplate } from "../generative/chat-template.js";
import { lmEncoder } from "../generative/dataset.js";
import { LmEncoder } from "../generative/encode.js";
import { decodeGenerations, finishedLmRun, stopTokenIds, trainedModelSpec } from "../generative/pipeline.js";
import { catalogEntry, resolveModel, type ModelInfo } from "../models/catalog.js";
import type { EventOf, LmModelSpec, RuntimeSpec } from "../protocol/schema.js";
import { PROTOCOL_VERSION } from "../protocol/schema.js";
import type { RunRecord, RunStore } from "../store/store.js";
import { writeLmShard } from "../tokenize/shards.js";
import { faultPoint } from "../run/faults.js";
import { HoneError } from "../util/errors.js";
import { writeJsonAtomic } from "../util/fs.js";

export interface Generator {
  /** What the config named, and what it is: a model folder or a run (provenance). */
  ref: string;
  source: { kind: "model"; dir: string } | { kind: "run"; id: string; dir: string };
  encoder: LmEncoder;
  spec: LmModelSpec;
  stop: number[];
}

export type OpenRun = (rec: RunRecord) => { run: RunRecord; cfg: ResolvedConfig; task: { config: { model: string }; generates: boolean } };

/** What augment.model names: a model (catalog or folder; absolute paths, as resolved) or a
 * completed run of the store; checked before any work starts. */
export function findGenerator(ref: string, store: RunStore): { kind: "model"; info: ModelInfo } | { kind: "run"; run: RunRecord } {
  if (catalogEntry(ref) !== undefined || existsSync(ref)) {
    const info = resolveModel(ref, process.cwd());
    if (!info.causalLm)
      throw new HoneError("config", `augment.model "${ref}" does not generate text`, [
        {
          path: ["augment", "model"],
          message: `architectures: ${info.architectures.join(", ") || "none"}`,
          hint: "name a causal language model (smollm2-135m-instruct, or a *ForCausalLM folder)",
        },
      ]);
    return { kind: "model", info };
  }
  let run: RunRecord;
  try {
    run = store.findRun(ref);
  } catch {
    throw new HoneError("config", `augment.model "${ref}" is neither a model nor a run`, [
      {
        path: ["augment", "model"],
        message: "no catalog model, folder or run has that name",
        hint: "name a generative catalog model (hone models), a model folder, or a finished sft run",
      },
    ]);
  }
  if (run.status !== "completed")
    throw new HoneError("config", `augment.model: run ${run.id} has not completed (${run.status})`, [
      { path: ["augment", "model"], message: "its model is not final", hint: `finish it first: hone train --resume ${run.id}` },
    ]);
  return { kind: "run", run };
}

/** The writer named by augment.model, checked: a generative model or a finished generating run. */
export async function openGenerator(ref: string, store: RunStore, openRun: OpenRun): Promise<Generator> {
  const found = findGenerator(ref, store);
  if (found.kind === "run") {
    const { run, cfg, task } = openRun(found.run);
    if (task.config.model !== "generator" || !task.generates)
      throw new HoneError("config", `augment.model: run ${run.id} is a ${run.task} run`, [
        { path: ["augment", "model"], message: "it does not write text", hint: "name a finished sft or dpo run, or a generative model" },
      ]);
    const r = finishedLmRun(run, cfg);
    const encoder = lmEncoder(cfg, r.modelDir);
    return {
      ref,
      source: { kind: "run", id: run.id, dir: r.modelDir },
      encoder,
      spec: trainedModelSpec(cfg, r.modelDir, r.plan.pad_token_id),
      stop: await withNewline(encoder, r.plan.stop_token_ids),
    };
  }
  const info = found.info;
  const specials = readSpecialTokens(info.dir);
  const template = modelTemplate(info.dir);
  const encoder = new LmEncoder(info.dir, template ? new ChatTemplate(template, specials) : null, specials.eos, 1024, "assistant");
  const stop = stopTokenIds(info.dir, encoder);
  if (stop.length === 0)
    throw new HoneError("model", `augment.model "${ref}" has no end-of-sequence token`, [
      { file: info.dir, message: "no eos_token and no eos_token_id", hint: "a generative model must know where a text ends" },
    ]);
  const pad = info.padTokenId || (encoder.tokenId(specials.pad ?? "") ?? encoder.eosId ?? 0);
  return {
    ref,
    source: { kind: "model", dir: info.dir },
    encoder,
    spec: { path: info.dir, adapter: null, architecture: "causal", head: "lm", dtype: "fp32", pad_token_id: pad },
    stop: await withNewline(encoder, stop),
  };
}

/** A generated example is one line: where the tokenizer has a token of its own for "\n", the
 * engine stops there instead of writing lines that are thrown away. */
async function withNewline(encoder: LmEncoder, stop: number[]): Promise<number[]> {
  for (const piece of ["Ċ", "<0x0A>", "\n"]) {
    const id = encoder.tokenId(piece);
    if (id === null || (await encoder.decode([id], false)) !== "\n") continue;
    return stop.includes(id) ? stop : [...stop, id].sort((x, y) => x - y);
  }
  return stop;
}

export interface GenerationProgress {
  done: number;
  total: number;
  /** Examples per second of this attempt. */
  rate: number;
  etaSeconds: number;
}

/** Every prompt's text, generated chunk by chunk in one engine process (the model loads once);
 * each chunk is saved whole as it ends, and finished chunks are read back, not generated. */
export async function generateAll(
  g: Generator,
  prompts: string[],
  a: ResolvedAugment,
  runtime: RuntimeSpec,
  dir: string,
  progress: (p: GenerationProgress) => void,
  signal?: AbortSignal,
): Promise<{ texts: string[]; seconds: number }> {
  const chunks = Math.ceil(prompts.length / a.chunk);
  const fileOf = (c: number) => join(dir, `chunk-${String(c).padStart(5, "0")}.json`);
  const saved: { texts: string[]; seconds: number }[] = [];
  while (saved.length < chunks && existsSync(fileOf(saved.length))) saved.push(JSON.parse(readFileSync(fileOf(saved.length), "utf8")));
  const first = saved.length;
  if (first < chunks) {
    if (signal?.aborted) throw new HoneError("interrupted", "interrupted while generating examples; the finished chunks are kept");
    const t0 = Date.now();
    let last = t0;
    const work = join(dir, "work");
    try {
      // Each chunk's event is decoded and saved in order while the engine goes on with the next.
      const onChunk = async (ev: EventOf<"generations">) => {
        const c = ev.chunk!;
        const texts = await decodeGenerations(g.encoder, ev);
        const now = Date.now();
        writeJsonAtomic(fileOf(c), { chunk: c, seed: a.seed + c, seconds: (now - last) / 1000, texts });
        faultPoint("augment-chunk");
        saved.push({ texts, seconds: (now - last) / 1000 });
        last = now;
        const done = saved.reduce((n, x) => n + x.texts.length, 0);
        const rate = (done - first * a.chunk) / Math.max(1e-3, (now - t0) / 1000);
        progress({ done, total: prompts.length, rate, etaSeconds: (prompts.length - done) / rate });
      };
      const r = await runChunks(g, prompts.slice(first * a.chunk), a, first, runtime, work, signal, onChunk);
      if (r.exitCode !== 0) throw engineFailure(r);
    } catch (e) {
      if (signal?.aborted) throw new HoneError("interrupted", "interrupted while generating examples; the finished chunks are kept");
      throw e;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  if (saved.length !== chunks) throw new HoneError("engine", `the writer returned ${saved.length} of ${chunks} chunks`);
  return { texts: saved.flatMap((x) => x.texts), seconds: saved.reduce((t, x) => t + x.seconds, 0) };
}

async function runChunks(
  g: Generator,
  prompts: string[],
  a: ResolvedAugment,
  first: number,
  runtime: RuntimeSpec,
  work: string,
  signal: AbortSignal | undefined,
  onChunk: (ev: EventOf<"generations">) => Promise<void>,
): Promise<EngineResult> {
  const ids = await g.encoder.encodeData(prompts);
  const shard = writeLmShard(
    join(work, "prompts"),
    "prompts",
    ids.map((x) => ({ ids: x, mask: null })),
    null,
  );
  // Ctrl-C stops the writer at once: a chunk is saved only whole, and a resume writes the
  // unfinished one again with its own seed, so nothing is lost.
  let writes = Promise.resolve();
  let failed: unknown = null;
  const handle = startEngine(
    {
      kind: "lm.generate",
      protocol_version: PROTOCOL_VERSION,
      model: g.spec,
      prompts: shard,
      output_dir: work,
      max_new_tokens: a.max_new_tokens,
      temperature: a.temperature,
      top_p: a.top_p,
      seed: a.seed,
      stop_token_ids: g.stop,
      batch_size: a.batch_size,
      chunks: { size: a.chunk, first },
      runtime: { ...runtime, compile: false },
    },
    {
      onEvent: (e) => {
        if (e.type !== "generations") return;
        // In order, one at a time; a chunk that cannot be saved stops the writer.
        writes = writes
          .then(() => onChunk(e))
          .catch((err: unknown) => {
            failed ??= err;
            handle.kill();
          });
      },
    },
  );
  const stop = () => handle.kill();
  if (signal?.aborted) stop();
  signal?.addEventListener("abort", stop);
  try {
    const r = await handle.result;
    await writes;
    if (failed) throw failed;
    return r;
  } finally {
    signal?.removeEventListener("abort", stop);
  }
}
