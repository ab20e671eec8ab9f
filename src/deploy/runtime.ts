// Inference in Node from an exported bundle (no Python): the same tokenizer as training, batches
// sorted by length, ONNX Runtime for the graph, and the same decoding code as `hone predict`.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type * as Ort from "onnxruntime-node";
import type { HeadLogits } from "../classifier/evaluate.js";
import { loadHeads, type HeadPlan } from "../classifier/heads.js";
import type { BundleGraph, TaskPrediction } from "../run/types.js";
import { taskPlugin } from "../tasks/registry.js";
import { loadTokenizer, type TextTokenizer } from "../tokenize/tokenizer.js";
import { HoneError } from "../util/errors.js";
import { sha256File } from "../util/fs.js";

export interface LoadOptions {
  /** Examples per ONNX Runtime call. */
  batchSize?: number;
  /** Intra-op threads of ONNX Runtime; default: its own choice. */
  threads?: number;
  /** Let ONNX Runtime's threads spin-wait after a call for the next one (its default). Right for
   * back-to-back batches; a server turns it off, because its main thread needs a core between
   * batches to read requests and write answers while the pool's threads would still be spinning. */
  spinBetweenRuns?: boolean;
}

export interface LoadedModel extends BundleGraph {
  readonly plan: HeadPlan;
  logits(texts: string[]): Promise<HeadLogits>;
  /** Logits of already tokenized texts (benchmarks time the model apart from tokenization). */
  logitsOfIds(ids: Uint32Array[], batchSize?: number): Promise<HeadLogits>;
  tokenize(texts: string[]): Promise<Uint32Array[]>;
  /** The bundle's task decodes: labels for classifiers, entities for token tasks. */
  predict(texts: string[], opts?: { topK?: number }): Promise<TaskPrediction[]>;
  close(): Promise<void>;
}

function readManifest(path: string): BundleGraph["manifest"] & { files?: Record<string, string> } {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new HoneError("usage", "the bundle's manifest is unreadable", [
      { file: path, message: (e as Error).message.split("\n")[0]!, hint: "export the run again: hone export RUN" },
    ]);
  }
}

/** Every file the manifest lists is there with the sha256 it was exported with: a bundle that was
 * cut short in a copy, or changed, is refused before it answers anything. */
async function verifyFiles(dir: string, files: Record<string, string>): Promise<void> {
  const issues = [];
  for (const [f, sum] of Object.entries(files)) {
    const path = join(dir, f);
    if (!existsSync(path)) issues.push({ file: path, message: "missing", hint: "copy the whole bundle folder, or export the run again" });
    else if ((await sha256File(path)) !== sum)
      issues.push({
        file: path,
        message: `sha256 differs from bundle.json's (${sum.slice(0, 12)}…): changed or cut short since export`,
        hint: "copy the bundle again, or export the run again",
      });
  }
  if (issues.length > 0) throw new HoneError("usage", `${dir}: the bundle's files do not match its manifest`, issues);
}

export async function load(dir: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const manifestPath = join(dir, "bundle.json");
  if (!existsSync(manifestPath)) {
    throw new HoneError("usage", `${dir} is not a Hone bundle`, [
      { file: dir, message: "no bundle.json", hint: "make one with: hone export RUN --format onnx" },
    ]);
  }
  const manifest = readManifest(manifestPath);
  await verifyFiles(dir, manifest.files ?? {});
  const decodingFile = join(dir, "decoding.json");
  const multiLabel = existsSync(decodingFile) && (JSON.parse(readFileSync(decodingFile, "utf8")) as { multi_label?: boolean }).multi_label === true;
  const plan = loadHeads(dir, multiLabel);
  const decoder = taskPlugin(manifest.task).bundle;
  if (!decoder)
    throw new HoneError("usage", `${dir} holds a ${manifest.task} model, which has no ONNX decoder`, [
      { file: manifestPath, message: `task ${manifest.task}` },
    ]);
  const tokenizer: TextTokenizer = loadTokenizer(dir, manifest.max_length);
  // Loaded on first use: commands that never serve a bundle (train, tune) start without it.
  const ort: typeof Ort = await import("onnxruntime-node");
  const session = await ort.InferenceSession.create(join(dir, "model.onnx"), {
    graphOptimizationLevel: "all",
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
    ...(opts.spinBetweenRuns === false ? { extra: { session: { force_spinning_stop: "1" } } } : {}),
  });
  const batchSize = opts.batchSize ?? 32;
  const pad: number = manifest.pad_token_id;

  async function logitsOfIds(ids: Uint32Array[], size = batchSize): Promise<HeadLogits> {
    const out: HeadLogits = Object.fromEntries(plan.heads.map((h) => [h.name, new Array<Float32Array>(ids.length)]));
    // Longest first, so that each batch pads to nearly its own length.
    const order = ids.map((_, i) => i).sort((a, b) => ids[b]!.length - ids[a]!.length);
    for (let s = 0; s < order.length; s += size) {
      const idx = order.slice(s, s + size);
      const T = ids[idx[0]!]!.length;
      // int64 tensors written through 32-bit views (little-endian, as every onnxruntime-node build
      // is: the low word first; ids and the pad id are below 2^31, so the high words stay 0): no
      // BigInt made per token.
      const input = new BigInt64Array(idx.length * T);
      const mask = new BigInt64Array(idx.length * T);
      const input32 = new Uint32Array(input.buffer);
      const mask32 = new Uint32Array(mask.buffer);
      idx.forEach((i, row) => {
        const seq = ids[i]!;
        const at = row * T;
        for (let t = 0; t < T; t++) input32[2 * (at + t)] = t < seq.length ? seq[t]! : pad;
        for (let t = 0; t < seq.length; t++) mask32[2 * (at + t)] = 1;
      });
      const result = await session.run({
        input_ids: new ort.Tensor("int64", input, [idx.length, T]),
        attention_mask: new ort.Tensor("int64", mask, [idx.length, T]),
      });
      for (const h of plan.heads) {
        const data = result[h.name]!.data as Float32Array;
        const L = h.labels.length;
        // A token head gives [batch, T, L]: each text keeps the rows of its own tokens.
        if (h.level === "token" || h.level === "span") idx.forEach((i, row) => (out[h.name]![i] = data.slice(row * T * L, (row * T + ids[i]!.length) * L)));
        else idx.forEach((i, row) => (out[h.name]![i] = data.slice(row * L, (row + 1) * L)));
      }
    }
    return out;
  }

  const tokenize = (texts: string[]) => tokenizer.encode(texts);
  const logits = async (texts: string[]) => logitsOfIds(await tokenize(texts));
  const model: LoadedModel = {
    dir,
    plan,
    manifest,
    logits,
    logitsOfIds,
    tokenize,
    predict: (texts, o = {}) => decoder.predict(model, texts, { topK: o.topK ?? 3 }),
    async close() {
      await session.release();
    },
  };
  return model;
}
