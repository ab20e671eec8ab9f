// `hone export <run> --format gguf`: a generative run's model as one GGUF file for llama.cpp,
// Ollama and LM Studio (adapter merged, the chat template in the metadata), with a Modelfile
// beside it. The engine writes it with the `gguf` library, reads it back and compares the next
// token's distribution with the PyTorch model's on prompts of the run's own data; a file outside
// its format's tolerance is not kept.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { runEngine } from "../engine/process.js";
import type { EventOf, LmShard } from "../protocol/schema.js";
import { PROTOCOL_VERSION } from "../protocol/schema.js";
import { runPaths } from "../run/artifacts.js";
import { RunStore, storeDir } from "../store/store.js";
import { HoneError } from "../util/errors.js";
import { sha256File, writeJsonAtomic } from "../util/fs.js";
import { lmEncoder } from "./dataset.js";
import { needGenerator, openLmRun } from "./generate.js";
import { architectureOf, trainedModelSpec } from "./pipeline.js";

export type GgufType = "f16" | "q8_0" | "q4_0" | "q4_k_m";
/** How a 4-bit file's rounding uses the run's training tokens: gptq (the default: each layer's
 * output error made small, lm/gptq.py), imatrix (llama-quantize --imatrix's per-column weights),
 * none (round to nearest, as llama-quantize without an imatrix). */
export const GGUF_CALIBRATIONS = ["gptq", "imatrix", "none"] as const;
export type GgufCalibration = (typeof GGUF_CALIBRATIONS)[number];
const FOUR_BIT: GgufType[] = ["q4_0", "q4_k_m"];

/** Model types written as llama.cpp's llama architecture (the same tensors and rotary layout). */
const GGUF_ARCHITECTURES = ["llama", "mistral"];

/** KL(PyTorch || GGUF) of the next token, averaged over the prompts, that each type may reach:
 * f16 only rounds; q8_0 loses little; the 4-bit types' loss is reported, not bounded (it depends
 * on the model: a 135M model loses much more than a 7B one). */
export const GGUF_TOLERANCE: Record<GgufType, { max_kl: number | null }> = {
  f16: { max_kl: 1e-3 },
  q8_0: { max_kl: 0.05 },
  q4_0: { max_kl: null },
  q4_k_m: { max_kl: null },
};

const GGUF_TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"];

/** gguf.json, beside model.gguf: what `hone serve` reads. */
export interface GgufManifest {
  format: "gguf";
  run_id: string;
  task: string;
  type: GgufType;
  context_length: number;
  stop_token_ids: number[];
  sha256: string;
  check: GgufExport["check"];
}

export interface GgufExport {
  dir: string;
  file: string;
  bytes: number;
  type: GgufType;
  check: {
    prompts: number;
    max_abs_logprob_diff: number;
    top1_agreement: number;
    kl: number;
    max_kl: number | null;
    /** How the rounding used the run's training tokens, and how many it read (absent in older exports). */
    calibration?: { method: GgufCalibration; tokens: number };
  };
}

/** Prompts for the check: the run's own sampled prompts where it kept them, else a few fixed ones. */
function checkPrompts(runDir: string): (string | { role: "user"; content: string }[])[] {
  for (const split of ["test", "validation"]) {
    const f = join(runDir, "report", `samples.${split}.jsonl`);
    if (!existsSync(f)) continue;
    const prompts = readFileSync(f, "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .slice(0, 8)
      .map((l) => (JSON.parse(l) as { prompt: string | { role: "user"; content: string }[] }).prompt);
    if (prompts.length > 0) return prompts;
  }
  return ["Hello!", "What can you help me with?", "Summarise this in one line: the parcel arrived late and damaged."].map((content) => [
    { role: "user" as const, content },
  ]);
}

/** Tokens of the run's training data that a 4-bit type's calibration reads (llama.cpp's imatrix
 * tool reads ~100 chunks of 512 by default: 51,200; GPTQ papers use 128 x 2048). */
export const CALIBRATION_TOKENS = 32_768;

/** The run's training sequences as the engine reads them (its data/ folder, kept with the run). */
function trainingShard(run: { run_dir: string }): LmShard | null {
  const f = join(runPaths(run.run_dir).data, "run-files.json");
  const shard = existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as { shards?: { train?: LmShard } }).shards?.train : undefined;
  return shard && existsSync(shard.tokens) ? shard : null;
}

/** The calibration a file gets: what was asked, checked (a usage error, not a silently different
 * file), or by default GPTQ for the 4-bit types where the run kept its training tokens. */
function calibrationFor(run: { id: string; run_dir: string }, type: GgufType, asked: GgufCalibration | undefined) {
  const flag = `--calibrate ${asked}`;
  if (asked !== undefined && asked !== "none" && !FOUR_BIT.includes(type))
    throw new HoneError("usage", `${flag} rounds 4-bit files, not ${type}`, [
      { path: ["--calibrate"], message: `--quantize ${type}`, hint: "use --quantize q4_0 or q4_k_m, or drop --calibrate" },
    ]);
  if (!FOUR_BIT.includes(type) || asked === "none") return { method: "none" as const, shard: null };
  const shard = trainingShard(run);
  if (!shard && asked !== undefined)
    throw new HoneError("usage", `run ${run.id} has no training tokens to calibrate on`, [
      { path: ["--calibrate"], message: `expected them in ${runPaths(run.run_dir).data}`, hint: "export with --calibrate none" },
    ]);
  return shard ? { method: asked ?? ("gptq" as const), shard } : { method: "none" as const, shard: null };
}

export async function exportGguf(ref: string, opts: { store?: string; type?: GgufType; out?: string; calibrate?: GgufCalibration } = {}): Promise<GgufExport> {
  const store = new RunStore(storeDir(opts.store));
  try {
    const r = needGenerator(openLmRun(store, ref));
    if (architectureOf(r.cfg) !== "causal")
      throw new HoneError("usage", `run ${r.run.id} is an encoder-decoder`, [
        { message: "GGUF holds decoder-only models here (llama.cpp's llama architecture)", hint: "export a causal LM run (sft/dpo on a *ForCausalLM model)" },
      ]);
    if (!GGUF_ARCHITECTURES.includes(r.cfg.model.model_type))
      throw new HoneError("usage", `run ${r.run.id} is a ${r.cfg.model.model_type} model`, [
        {
          message: `GGUF export writes ${GGUF_ARCHITECTURES.join(" and ")} models (llama.cpp's llama architecture)`,
          hint: "export it to ONNX, or merge it and convert with llama.cpp's own script",
        },
      ]);
    const type = opts.type ?? "f16";
    const dir = resolve(opts.out ?? join(r.run.run_dir, "export", `gguf-${type}`));
    const work = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    try {
      const encoder = lmEncoder(r.cfg, r.modelDir);
      const prompts = checkPrompts(r.run.run_dir);
      const ids = await encoder.encodePrompts(prompts);
      // The 4-bit types' rounding looks at what the model's layers see on the run's own training
      // data (never its validation or test split, which the check uses). GPTQ by default: on the
      // support-chat run it kept q4_0's test loss at 0.0556 against fp32's 0.0545, where rounding
      // to nearest gave 0.0849 and the importance matrix 0.1032 (docs/benchmarks.md, the edge section).
      const calibration = calibrationFor(r.run, type, opts.calibrate);
      const result = await runEngine({
        kind: "lm.gguf",
        protocol_version: PROTOCOL_VERSION,
        model: trainedModelSpec(r.cfg, r.modelDir, r.plan.pad_token_id),
        tokenizer_dir: r.modelDir,
        chat_template: encoder.template?.source.text ?? null,
        type,
        output: join(work, "model.gguf"),
        prompts: ids.map((x) => Array.from(x)),
        calibration: calibration.shard ? { shard: calibration.shard, max_tokens: CALIBRATION_TOKENS, method: calibration.method as "gptq" | "imatrix" } : null,
        threads: Math.max(1, Math.min(4, cpus().length)),
      });
      const ev = result.events.find((e): e is EventOf<"gguf_written"> => e.type === "gguf_written")!;
      const max_kl = GGUF_TOLERANCE[type].max_kl;
      if (max_kl !== null && !(ev.kl <= max_kl))
        throw new HoneError("model", `the ${type} GGUF file differs from the PyTorch model beyond its tolerance`, [
          { message: `next-token KL ${ev.kl.toExponential(2)} > ${max_kl} on ${ids.length} prompts`, hint: "export f16, or report this model" },
        ]);
      // Ollama: `ollama create <name> -f Modelfile` next to the file; its template comes from the
      // file's metadata (tokenizer.chat_template), its stop words from the run's end tokens.
      const stops = await Promise.all(r.plan.stop_token_ids.map((id) => encoder.decode([id], false)));
      const modelfile = [
        `# ${r.run.name ?? r.run.id} (${r.run.task}), exported by Hone as ${type}`,
        "FROM ./model.gguf",
        ...[...new Set(stops.filter((s) => s.trim() !== ""))].map((s) => `PARAMETER stop ${JSON.stringify(s)}`),
        "",
      ].join("\n");
      writeFileSync(join(work, "Modelfile"), modelfile);
      // What Hone needs to serve it from Node (hone serve <dir>): the run's tokenizer and template
      // (message text tokenized as data, as the PyTorch server does), its stop tokens and length.
      for (const f of GGUF_TOKENIZER_FILES) if (existsSync(join(r.modelDir, f))) copyFileSync(join(r.modelDir, f), join(work, f));
      const manifest: GgufManifest = {
        format: "gguf",
        run_id: r.run.id,
        task: r.run.task,
        type,
        context_length: r.cfg.data.max_length,
        stop_token_ids: r.plan.stop_token_ids,
        sha256: await sha256File(join(work, "model.gguf")),
        check: {
          prompts: ids.length,
          max_abs_logprob_diff: ev.max_abs_logprob_diff,
          top1_agreement: ev.top1_agreement,
          kl: ev.kl,
          max_kl,
          calibration: { method: calibration.method, tokens: ev.calibration_tokens },
        },
      };
      writeJsonAtomic(join(work, "gguf.json"), manifest);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dirname(dir), { recursive: true });
      renameSync(work, dir);
      await store.addArtifact(r.run.id, "export", join(dir, "model.gguf"));
      return {
        dir,
        file: join(dir, "model.gguf"),
        bytes: ev.bytes,
        type,
        check: manifest.check,
      };
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  } finally {
    store.close();
  }
}
