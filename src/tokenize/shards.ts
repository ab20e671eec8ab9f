// Token data for the engine as binary shards (see TokenShard in src/protocol/schema.ts).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { LmShard, TokenShard } from "../protocol/schema.js";
import { writeFileAtomic } from "../util/fs.js";

export interface HeadLabels {
  name: string;
  numLabels: number;
  multiLabel: boolean;
  /** Per example: class indices (one for single-label). */
  targets: number[][];
  /** A token-level head: per example, a class index per token (-1 = no target); `targets` unused. */
  tokenTargets?: Int32Array[];
  /** A span head: per example, its [start, end] token; `targets` unused. */
  spanTargets?: [number, number][];
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
    if (head.tokenTargets) {
      const all = new Int32Array(total);
      let at = 0;
      head.tokenTargets.forEach((t, i) => {
        if (t.length !== ids[i]!.length) throw new Error(`token targets of example ${i}: ${t.length} for ${ids[i]!.length} tokens`);
        all.set(t, at);
        at += t.length;
      });
      writeFileAtomic(path, le(all));
    } else if (head.spanTargets) {
      writeFileAtomic(path, le(Int32Array.from(head.spanTargets.flat())));
    } else if (head.multiLabel) {
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

/** Write generative sequences (ids + loss masks, optionally packed rows) as `<dir>/<split>.*`. */
export function writeLmShard(
  dir: string,
  split: string,
  seqs: { ids: Uint32Array; mask: Uint8Array | null }[],
  rows: number[][] | null,
  labels: Uint8Array | null = null,
): LmShard {
  const total = seqs.reduce((s, a) => s + a.ids.length, 0);
  const tokens = new Uint32Array(total);
  const offsets = new Uint32Array(seqs.length + 1);
  const withMask = seqs.length > 0 && seqs.every((s) => s.mask !== null);
  const mask = withMask ? new Uint8Array(total) : null;
  let pos = 0;
  seqs.forEach((s, i) => {
    tokens.set(s.ids, pos);
    if (mask) mask.set(s.mask!, pos);
    pos += s.ids.length;
    offsets[i + 1] = pos;
  });
  const ref: LmShard = {
    tokens: join(dir, `${split}.tokens.u32`),
    offsets: join(dir, `${split}.offsets.u32`),
    count: seqs.length,
    loss_mask: null,
    rows: null,
  };
  writeFileAtomic(ref.tokens, le(tokens));
  writeFileAtomic(ref.offsets, le(offsets));
  if (mask) {
    ref.loss_mask = join(dir, `${split}.mask.u8`);
    writeFileAtomic(ref.loss_mask, mask);
  }
  if (rows) {
    const items = Uint32Array.from(rows.flat());
    const rowOffsets = new Uint32Array(rows.length + 1);
    rows.forEach((r, i) => (rowOffsets[i + 1] = rowOffsets[i]! + r.length));
    ref.rows = { offsets: join(dir, `${split}.rows.offsets.u32`), items: join(dir, `${split}.rows.items.u32`), count: rows.length };
    writeFileAtomic(ref.rows.offsets, le(rowOffsets));
    writeFileAtomic(ref.rows.items, le(items));
  }
  if (labels) {
    ref.labels = join(dir, `${split}.labels.u8`);
    writeFileAtomic(ref.labels, labels);
  }
  return ref;
}

/** Read a uint32 file written by the engine (generated token ids, offsets). */
export function readU32(path: string): Uint32Array {
  const raw = readFileSync(path);
  return new Uint32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
}
