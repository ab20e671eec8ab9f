// Near-duplicate texts: Jaccard similarity of character trigrams, found through MinHash with
// locality-sensitive hashing (bands of rows): only texts that share a band are compared, so a set
// of tens of thousands of short texts costs about one pass instead of all pairs.

/** Lower case, NFKC, punctuation and runs of spaces folded: "What's  my balance?" = "whats my balance". */
export function normalise(text: string): string {
  return text
    .normalize("NFKC")
    .toLowerCase()
    .replace(/[\p{P}\p{S}]+/gu, "")
    .replace(/\s+/gu, " ")
    .trim();
}

/** Character trigrams of the normalised text, padded so that short words count. */
export function trigrams(text: string): Set<string> {
  const t = ` ${normalise(text)} `;
  const cps = Array.from(t);
  const out = new Set<string>();
  for (let i = 0; i + 3 <= cps.length; i++) out.add(cps.slice(i, i + 3).join(""));
  if (out.size === 0) out.add(t);
  return out;
}

export function jaccard(a: Set<string>, b: Set<string>): number {
  let shared = 0;
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  for (const x of small) if (large.has(x)) shared++;
  return shared / (a.size + b.size - shared);
}

// 64 hashes in 16 bands of 4: a pair at similarity 0.8 shares a band with probability
// 1 - (1 - 0.8^4)^16 = 0.9998; at 0.5, 0.64 (then compared and rejected exactly).
const BANDS = 16;
const ROWS = 4;

/** FNV-1a of a string, then one multiply-xorshift per seed: 64 cheap, independent-enough hashes. */
function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const SEEDS = Array.from({ length: BANDS * ROWS }, (_, i) => (Math.imul(i + 1, 0x9e3779b1) ^ 0x5bd1e995) >>> 0);

function signature(grams: Set<string>): Uint32Array {
  const sig = new Uint32Array(SEEDS.length).fill(0xffffffff);
  for (const g of grams) {
    const base = fnv(g);
    for (let k = 0; k < SEEDS.length; k++) {
      let h = Math.imul(base ^ SEEDS[k]!, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35) >>> 0;
      if (h < sig[k]!) sig[k] = h;
    }
  }
  return sig;
}

function bandKeys(sig: Uint32Array): string[] {
  const keys: string[] = [];
  for (let b = 0; b < BANDS; b++) keys.push(`${b}:${Array.from(sig.subarray(b * ROWS, (b + 1) * ROWS)).join(",")}`);
  return keys;
}

/** Texts added one by one; `closest` finds an added text at or above a similarity. */
export class NearIndex<T> {
  private readonly buckets = new Map<string, number[]>();
  private readonly items: { grams: Set<string>; exact: string; value: T }[] = [];
  private readonly exact = new Map<string, number>();

  add(text: string, value: T): void {
    const grams = trigrams(text);
    const i = this.items.length;
    const exact = normalise(text);
    this.items.push({ grams, exact, value });
    if (!this.exact.has(exact)) this.exact.set(exact, i);
    for (const key of bandKeys(signature(grams))) {
      const b = this.buckets.get(key);
      if (b) b.push(i);
      else this.buckets.set(key, [i]);
    }
  }

  /** The most similar added text with similarity >= threshold (exact after normalising: 1), or null. */
  closest(text: string, threshold: number): { value: T; similarity: number } | null {
    const exact = normalise(text);
    const same = this.exact.get(exact);
    if (same !== undefined) return { value: this.items[same]!.value, similarity: 1 };
    const grams = trigrams(text);
    const seen = new Set<number>();
    let best: { value: T; similarity: number } | null = null;
    for (const key of bandKeys(signature(grams))) {
      for (const i of this.buckets.get(key) ?? []) {
        if (seen.has(i)) continue;
        seen.add(i);
        const s = jaccard(grams, this.items[i]!.grams);
        if (s >= threshold && (!best || s > best.similarity)) best = { value: this.items[i]!.value, similarity: s };
      }
    }
    return best;
  }
}
