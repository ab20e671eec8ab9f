// `hone export <run> --format onnx [--quantize int8|fp16]`: a self-contained bundle that Node can
// serve without Python. The engine exports and measures; we judge the numbers against the stated
// tolerance and only then move the finished bundle into place.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { runEngine } from "../engine/process.js";
import type { EventOf, TokenShard } from "../protocol/schema.js";
import { PROTOCOL_VERSION } from "../protocol/schema.js";
import { modelSpec } from "../predict/logits.js";
import { runPaths } from "../run/artifacts.js";
import { RunStore, storeDir } from "../store/store.js";
import { loadTokenizer } from "../tokenize/tokenizer.js";
import { writeShard } from "../tokenize/shards.js";
import { headSpecs, loadHeads } from "../classifier/heads.js";
import type { BundleDecoder } from "../run/types.js";
import { openRun } from "../tasks/registry.js";
import { HoneError } from "../util/errors.js";
import { sha256File, writeJsonAtomic } from "../util/fs.js";
import { cpus } from "node:os";

export type Quantize = "none" | "int8" | "fp16";

/** What an export must reach on the sample, per precision: fp32 and fp16 are judged on the
 * logits themselves; int8 changes logits by design, so it is judged on the decisions. */
export const TOLERANCE: Record<Quantize, { max_abs_diff: number | null; min_top1_agreement: number }> = {
  none: { max_abs_diff: 1e-3, min_top1_agreement: 1 },
  fp16: { max_abs_diff: 5e-2, min_top1_agreement: 0.98 },
  int8: { max_abs_diff: null, min_top1_agreement: 0.9 },
};

const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "merges.txt", "vocab.json", "config.json"];

export interface ExportOptions {
  store?: string;
  quantize?: Quantize;
  /** Bundle directory; default runs/<id>/export/onnx-<fp32|int8|fp16>. */
  out?: string;
  sampleSize?: number;
}

export interface ExportResult {
  dir: string;
  bytes: number;
  verification: EventOf<"exported">["heads"];
  tolerance: (typeof TOLERANCE)[Quantize];
}

export async function exportOnnx(ref: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const store = new RunStore(storeDir(opts.store));
  try {
    const r = openForExport(store, ref);
    const quantize = opts.quantize ?? "none";
    checkVocabulary(r.modelDir);
    const dir = opts.out ?? join(r.run.run_dir, "export", `onnx-${quantize === "none" ? "fp32" : quantize}`);
    // Built in a temporary sibling and renamed into place: a failed export leaves nothing behind.
    const work = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    try {
      const sample = await sampleShard(r.run.run_dir, r.decoder, r.modelDir, r.cfg.data.max_length, join(work, ".sample"));
      const result = await runEngine({
        kind: "onnx.export",
        protocol_version: PROTOCOL_VERSION,
        model: modelSpec(r.cfg, r.modelDir),
        heads: headSpecs(r.plan, 0),
        weights: r.weights,
        output: join(work, "model.onnx"),
        quantize,
        opset: 17,
        sample,
        sample_size: opts.sampleSize ?? 64,
        threads: Math.max(1, Math.min(4, cpus().length)),
      });
      const ev = result.events.find((e): e is EventOf<"exported"> => e.type === "exported")!;
      const tol = TOLERANCE[quantize];
      const failures = Object.entries(ev.heads).filter(
        ([, v]) => (tol.max_abs_diff !== null && (v.max_abs_diff === null || v.max_abs_diff > tol.max_abs_diff)) || v.top1_agreement < tol.min_top1_agreement,
      );
      if (failures.length > 0) {
        throw new HoneError(
          "model",
          `the ONNX export does not match PyTorch on ${ev.sample_size} examples`,
          failures.map(([head, v]) => ({
            path: [head],
            message: `max |logit difference| ${v.max_abs_diff}, top-1 agreement ${(v.top1_agreement * 100).toFixed(1)}%`,
            hint: `needed: ${tol.max_abs_diff === null ? "" : `max difference <= ${tol.max_abs_diff}, `}agreement >= ${tol.min_top1_agreement * 100}%`,
          })),
        );
      }
      rmSync(join(work, ".sample"), { recursive: true, force: true });
      for (const f of TOKENIZER_FILES)
        if (existsSync(join(r.modelDir, f))) copyFileSync(join(r.modelDir, f), join(work, f === "config.json" ? "encoder.config.json" : f));
      // The task's own decoding files (heads and tuned thresholds; tag scheme...).
      for (const f of r.decoder.files) copyFileSync(join(r.modelDir, f), join(work, f));
      writeJsonAtomic(join(work, "config.json"), r.cfg);
      const testFile = join(runPaths(r.run.run_dir).report, "metrics.test.json");
      const test = existsSync(testFile) ? JSON.parse(readFileSync(testFile, "utf8")) : null;
      const manifest = {
        format: "hone-onnx-bundle",
        version: 1,
        run_id: r.run.id,
        run_name: r.run.name,
        data_hash: r.run.data_hash,
        task: r.run.task,
        quantize,
        opset: ev.opset,
        onnxruntime: ev.onnxruntime,
        pad_token_id: r.cfg.model.pad_token_id,
        max_length: r.cfg.data.max_length,
        verification: { sample_size: ev.sample_size, heads: ev.heads, tolerance: tol },
        created: new Date().toISOString(),
      };
      writeFileSync(join(work, "README.md"), modelCard(manifest, r.cfg.model.ref, test));
      const files: Record<string, string> = {};
      for (const f of [
        "model.onnx",
        ...r.decoder.files,
        "config.json",
        "README.md",
        ...TOKENIZER_FILES.map((f) => (f === "config.json" ? "encoder.config.json" : f)),
      ]) {
        if (existsSync(join(work, f))) files[f] = await sha256File(join(work, f));
      }
      writeJsonAtomic(join(work, "bundle.json"), { ...manifest, files });
      rmSync(dir, { recursive: true, force: true });
      renameSync(work, dir);
      return { dir, bytes: ev.bytes, verification: ev.heads, tolerance: tol };
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  } finally {
    store.close();
  }
}

/** A finished run whose task exports to ONNX: its config, heads, weights and decoder. */
function openForExport(store: RunStore, ref: string) {
  const { task, run, cfg } = openRun(store.findRun(ref));
  const modelDir = runPaths(run.run_dir).model;
  const weights = join(modelDir, "model.safetensors");
  if (!task.bundle)
    throw new HoneError("usage", `runs of task ${task.name} are not exported to ONNX`, [
      { message: "ONNX bundles hold encoders with heads", hint: task.generates ? "a generative run: hone merge, then serve it with hone serve" : undefined },
    ]);
  if (!existsSync(weights))
    throw new HoneError("usage", `run ${run.id} has no trained model (status: ${run.status})`, [
      {
        message: "export needs a completed run",
        hint: run.status === "interrupted" ? `finish it with: hone train --resume ${run.id}` : "train one with: hone train",
      },
    ]);
  return { run, cfg, modelDir, weights, plan: loadHeads(modelDir, cfg.data.multi_label), decoder: task.bundle };
}

/** Up to 64 texts of the run's own data (test, else validation, else train), tokenized fresh. */
async function sampleShard(runDir: string, decoder: BundleDecoder, modelDir: string, maxLength: number, dir: string): Promise<TokenShard> {
  const shard = decoder.sample(JSON.parse(readFileSync(join(runPaths(runDir).data, "run-files.json"), "utf8")));
  if (shard && shard.count > 0) return { ...shard, labels: {} };
  const ids = await loadTokenizer(modelDir, maxLength).encode(["a sample text"]);
  return writeShard(dir, "sample", ids, []);
}

function modelCard(
  m: Record<string, unknown> & { verification: { sample_size: number; heads: Record<string, { max_abs_diff: number | null; top1_agreement: number }> } },
  base: string,
  test: Record<string, unknown> | null,
): string {
  const metric = (k: string) => (typeof test?.[k] === "number" ? `${((test[k] as number) * 100).toFixed(2)}%` : null);
  const lines = [
    `# ${m.run_name ?? m.run_id} (ONNX${m.quantize === "none" ? "" : `, ${m.quantize}`})`,
    "",
    `Fine-tuned from \`${base}\` by Hone run \`${m.run_id}\` (data sha256 \`${String(m.data_hash).slice(0, 16)}…\`), task \`${m.task}\`.`,
    "",
    "## Test metrics (the run's test split, evaluated once after training, PyTorch fp32)",
    "",
    ...(test
      ? ["accuracy", "f1", "intent_accuracy", "macro_f1", "micro_f1"].map((k) => metric(k) && `- ${k}: ${metric(k)}`).filter(Boolean)
      : ["- no test split"]),
    "",
    "## Export check",
    "",
    `On ${m.verification.sample_size} examples, ONNX Runtime ${m.onnxruntime} against PyTorch:`,
    ...Object.entries(m.verification.heads).map(
      ([h, v]) => `- head \`${h}\`: max |logit difference| ${v.max_abs_diff?.toExponential(2)}, top-1 agreement ${(v.top1_agreement * 100).toFixed(1)}%`,
    ),
    "",
    "## Use",
    "",
    "```js",
    'import { load } from "hone";',
    'const model = await load("<this folder>");',
    'await model.predict(["where is my parcel?"]);',
    "```",
    "",
  ];
  return lines.join("\n");
}

/** A tokenizer that emits ids the encoder has no embedding for would fail only at serving time,
 * on some texts: refuse to export it. */
function checkVocabulary(modelDir: string): void {
  const tok = JSON.parse(readFileSync(join(modelDir, "tokenizer.json"), "utf8")) as {
    model?: { vocab?: Record<string, number> | [string, number][] };
    added_tokens?: { id: number }[];
  };
  const vocab = tok.model?.vocab;
  const ids = [...(Array.isArray(vocab) ? vocab.map((_, i) => i) : Object.values(vocab ?? {})), ...(tok.added_tokens ?? []).map((t) => t.id)];
  const maxId = ids.reduce((m, v) => Math.max(m, v), -1);
  const size = (JSON.parse(readFileSync(join(modelDir, "config.json"), "utf8")) as { vocab_size?: number }).vocab_size;
  if (size !== undefined && maxId >= size) {
    throw new HoneError("model", "the tokenizer and the model do not fit together", [
      {
        file: join(modelDir, "tokenizer.json"),
        message: `token id ${maxId} exists, but the model has only ${size} embeddings`,
        hint: "use the tokenizer the model was trained with",
      },
    ]);
  }
}
