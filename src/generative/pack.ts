// Sequence packing: many short examples share one row of max_length tokens. The engine restarts
// position ids at every example, which also keeps attention inside each example, so packing
// changes how much padding is computed, not what is learnt.
import { rng, shuffle } from "../data/split.js";

/** First-fit decreasing: rows (lists of sequence indices) of at most `capacity` tokens.
 * Deterministic; long sequences are placed first, short ones fill the gaps. */
export function packSequences(lengths: ArrayLike<number>, capacity: number): number[][] {
  const order = Array.from({ length: lengths.length }, (_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  const rows: number[][] = [];
  const free: number[] = [];
  for (const i of order) {
    const len = Math.min(lengths[i]!, capacity);
    let placed = -1;
    for (let r = 0; r < rows.length; r++) {
      if (free[r]! >= len) {
        placed = r;
        break;
      }
    }
    if (placed === -1) {
      rows.push([i]);
      free.push(capacity - len);
    } else {
      rows[placed]!.push(i);
      free[placed]! -= len;
    }
  }
  return rows;
}

export interface PaddingReport {
  /** Real tokens in the split. */
  tokens: number;
  /** Token slots computed per epoch with one example per row (batches padded to their longest). */
  unpacked_slots: number;
  /** The same with packing. */
  packed_slots: number;
  /** 1 - packed / unpacked. */
  padding_saved: number;
  rows: number;
  examples_per_row: number;
}

/** Slots of one epoch in shuffled batches of `batchSize` rows, each padded to its longest. */
function slots(rowLengths: number[], batchSize: number, seed: number): number {
  const order = shuffle(
    rowLengths.map((_, i) => i),
    rng(seed),
  );
  let total = 0;
  for (let i = 0; i < order.length; i += batchSize) {
    const batch = order.slice(i, i + batchSize);
    total += Math.max(...batch.map((r) => rowLengths[r]!)) * batch.length;
  }
  return total;
}

export function paddingReport(lengths: number[], rows: number[][], batchSize: number, seed = 0): PaddingReport {
  const tokens = lengths.reduce((a, b) => a + b, 0);
  const unpacked = slots(lengths, batchSize, seed);
  const packed = slots(
    rows.map((r) => r.reduce((a, i) => a + lengths[i]!, 0)),
    batchSize,
    seed,
  );
  return {
    tokens,
    unpacked_slots: unpacked,
    packed_slots: packed,
    padding_saved: unpacked === 0 ? 0 : 1 - packed / unpacked,
    rows: rows.length,
    examples_per_row: rows.length === 0 ? 0 : lengths.length / rows.length,
  };
}
