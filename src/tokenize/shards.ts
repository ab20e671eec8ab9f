// Token data for the engine as binary shards (see TokenShard in src/protocol/schema.ts).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { TokenShard } from "../protocol/schema.js";
import { writeFileAtomic } from "../util/fs.js";

export interface HeadLabels {
  name: string;
  numLabels: number;
  multiLabel: boolean;
  /** Per example: class indices (one for single-label). */
  targets: number[][];
}

function le(array: Uint32Array | Int32Array): Uint8Array {
  // Typed arrays use the platform's byte order; every platform Node supports is little-endian,
  // which is what the engine reads ("<u4").
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** Write ids + offsets (+ labels per head) as `<dir>/<split>.*` and return the shard reference. */
export function writeShard(dir: string, split: string, ids: Uint32Array[], heads: HeadLabels[]): TokenShard {
  const total = ids.reduce((s, a) => s + a.length, 0);
  const tokens = new Uint32Array(total);
  const offsets = new Uint32Array(ids.length + 1);
  let pos = 0;
  ids.forEach((a, i) => {
    tokens.set(a, pos);
    pos += a.length;
    offsets[i + 1] = pos;
  });
  const ref: TokenShard = {
    tokens: join(dir, `${split}.tokens.u32`),
    offsets: join(dir, `${split}.offsets.u32`),
    count: ids.length,
    labels: {},
  };
  writeFileAtomic(ref.tokens, le(tokens));
  writeFileAtomic(ref.offsets, le(offsets));
  for (const head of heads) {
    const path = join(dir, `${split}.${head.name}.labels`);
    if (head.multiLabel) {
      const m = new Uint8Array(ids.length * head.numLabels);
      head.targets.forEach((t, i) => t.forEach((c) => (m[i * head.numLabels + c] = 1)));
      writeFileAtomic(path, m);
    } else {
      writeFileAtomic(path, le(Int32Array.from(head.targets.map((t) => t[0]!))));
    }
    ref.labels[head.name] = path;
  }
  return ref;
}

/** Read a float32 row-major logits file written by the engine: one row per example. */
export function readLogits(path: string, count: number, numLabels: number): Float32Array[] {
  const raw = readFileSync(path);
  if (raw.byteLength !== count * numLabels * 4) {
    throw new Error(`logits file ${path} has ${raw.byteLength} bytes, expected ${count}x${numLabels}x4`);
  }
  // Copy into a fresh buffer: a Float32Array view needs a 4-byte aligned offset.
  const all = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return Array.from({ length: count }, (_, i) => all.subarray(i * numLabels, (i + 1) * numLabels));
}
