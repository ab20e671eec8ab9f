// Scrambled Sobol points (quasi-random): low-discrepancy coverage for startup trials and the
// "sobol" sampler. Direction numbers: S. Joe and F. Y. Kuo, new-joe-kuo-6.21201 (first 64
// dimensions), BSD-style licence. Scrambled by a seeded random digital shift, so seeds differ
// and the point set keeps its uniformity.
import { Rng } from "../rng.js";

/** [s (degree), a (polynomial), m_1..m_s] for dimensions 2..64; dimension 1 is van der Corput. */
const DIRECTIONS: [number, number, number[]][] = [
  [1, 0, [1]],
  [2, 1, [1, 3]],
  [3, 1, [1, 3, 1]],
  [3, 2, [1, 1, 1]],
  [4, 1, [1, 1, 3, 3]],
  [4, 4, [1, 3, 5, 13]],
  [5, 2, [1, 1, 5, 5, 17]],
  [5, 4, [1, 1, 5, 5, 5]],
  [5, 7, [1, 1, 7, 11, 19]],
  [5, 11, [1, 1, 5, 1, 1]],
  [5, 13, [1, 1, 1, 3, 11]],
  [5, 14, [1, 3, 5, 5, 31]],
  [6, 1, [1, 3, 3, 9, 7, 49]],
  [6, 13, [1, 1, 1, 15, 21, 21]],
  [6, 16, [1, 3, 1, 13, 27, 49]],
  [6, 19, [1, 1, 1, 15, 7, 5]],
  [6, 22, [1, 3, 1, 15, 13, 25]],
  [6, 25, [1, 1, 5, 5, 19, 61]],
  [7, 1, [1, 3, 7, 11, 23, 15, 103]],
  [7, 4, [1, 3, 7, 13, 13, 15, 69]],
  [7, 7, [1, 1, 3, 13, 7, 35, 63]],
  [7, 8, [1, 3, 5, 9, 1, 25, 53]],
  [7, 14, [1, 3, 1, 13, 9, 35, 107]],
  [7, 19, [1, 3, 1, 5, 27, 61, 31]],
  [7, 21, [1, 1, 5, 11, 19, 41, 61]],
  [7, 28, [1, 3, 5, 3, 3, 13, 69]],
  [7, 31, [1, 1, 7, 13, 1, 19, 1]],
  [7, 32, [1, 3, 7, 5, 13, 19, 59]],
  [7, 37, [1, 1, 3, 9, 25, 29, 41]],
  [7, 41, [1, 3, 5, 13, 23, 1, 55]],
  [7, 42, [1, 3, 7, 3, 13, 59, 17]],
  [7, 50, [1, 3, 1, 3, 5, 53, 69]],
  [7, 55, [1, 1, 5, 5, 23, 33, 13]],
  [7, 56, [1, 1, 7, 7, 1, 61, 123]],
  [7, 59, [1, 1, 7, 9, 13, 61, 49]],
  [7, 62, [1, 3, 3, 5, 3, 55, 33]],
  [8, 14, [1, 3, 1, 15, 31, 13, 49, 245]],
  [8, 21, [1, 3, 5, 15, 31, 59, 63, 97]],
  [8, 22, [1, 3, 1, 11, 11, 11, 77, 249]],
  [8, 38, [1, 3, 1, 11, 27, 43, 71, 9]],
  [8, 47, [1, 1, 7, 15, 21, 11, 81, 45]],
  [8, 49, [1, 3, 7, 3, 25, 31, 65, 79]],
  [8, 50, [1, 3, 1, 1, 19, 11, 3, 205]],
  [8, 52, [1, 1, 5, 9, 19, 21, 29, 157]],
  [8, 56, [1, 3, 7, 11, 1, 33, 89, 185]],
  [8, 67, [1, 3, 3, 3, 15, 9, 79, 71]],
  [8, 70, [1, 3, 7, 11, 15, 39, 119, 27]],
  [8, 84, [1, 1, 3, 1, 11, 31, 97, 225]],
  [8, 97, [1, 1, 1, 3, 23, 43, 57, 177]],
  [8, 103, [1, 3, 7, 7, 17, 17, 37, 71]],
  [8, 115, [1, 3, 1, 5, 27, 63, 123, 213]],
  [8, 122, [1, 1, 3, 5, 11, 43, 53, 133]],
  [9, 8, [1, 3, 5, 5, 29, 17, 47, 173, 479]],
  [9, 13, [1, 3, 3, 11, 3, 1, 109, 9, 69]],
  [9, 16, [1, 1, 1, 5, 17, 39, 23, 5, 343]],
  [9, 22, [1, 3, 1, 5, 25, 15, 31, 103, 499]],
  [9, 25, [1, 1, 1, 11, 11, 17, 63, 105, 183]],
  [9, 44, [1, 1, 5, 11, 9, 29, 97, 231, 363]],
  [9, 47, [1, 1, 5, 15, 19, 45, 41, 7, 383]],
  [9, 52, [1, 3, 7, 7, 31, 19, 83, 137, 221]],
  [9, 55, [1, 1, 1, 3, 23, 15, 111, 223, 83]],
  [9, 59, [1, 1, 5, 13, 31, 15, 55, 25, 161]],
  [9, 62, [1, 1, 3, 13, 25, 47, 39, 87, 257]],
];

export const SOBOL_MAX_DIMENSION = DIRECTIONS.length + 1;
const BITS = 32;

function directionNumbers(dim: number): Uint32Array[] {
  const v: Uint32Array[] = [];
  const first = new Uint32Array(BITS);
  for (let i = 0; i < BITS; i++) first[i] = (1 << (31 - i)) >>> 0;
  v.push(first);
  for (let d = 1; d < dim; d++) {
    const [s, a, m] = DIRECTIONS[d - 1]!;
    const vd = new Uint32Array(BITS);
    for (let i = 0; i < s; i++) vd[i] = (m[i]! << (31 - i)) >>> 0;
    for (let i = s; i < BITS; i++) {
      let x = vd[i - s]! ^ (vd[i - s]! >>> s);
      for (let k = 1; k < s; k++) if ((a >>> (s - 1 - k)) & 1) x ^= vd[i - k]!;
      vd[i] = x >>> 0;
    }
    v.push(vd);
  }
  return v;
}

const cache = new Map<number, Uint32Array[]>();

/** Point `index` (0-based) of a `dim`-dimensional Sobol sequence, shifted by `seed`. */
export function sobolPoint(index: number, dim: number, seed: number): number[] {
  if (dim > SOBOL_MAX_DIMENSION) throw new Error(`Sobol points go up to ${SOBOL_MAX_DIMENSION} dimensions`);
  let v = cache.get(dim);
  if (!v) cache.set(dim, (v = directionNumbers(dim)));
  const rng = new Rng(seed, 0x5b0b01);
  const out: number[] = [];
  for (let d = 0; d < dim; d++) {
    // Gray-code-free direct construction: XOR the direction numbers of index's set bits.
    let x = 0;
    for (let bit = 0, i = index; i > 0 && bit < BITS; bit++, i = Math.floor(i / 2)) if (i & 1) x ^= v[d]![bit]!;
    const shifted = (x ^ rng.u32()) >>> 0;
    out.push((shifted + 0.5) / 4294967296);
  }
  return out;
}

/** `count` consecutive Sobol points, for acquisition searches. */
export function sobolPoints(count: number, dim: number, seed: number): number[][] {
  return Array.from({ length: count }, (_, i) => sobolPoint(i, dim, seed));
}
