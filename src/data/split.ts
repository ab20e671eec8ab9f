// Seeded, stratified splits: the same seed and data give the same split on every machine.
import type { Example } from "./load.js";
import { splitmix32 } from "../util/random.js";

/** Uniform in [0, 1), seeded (splitmix32). */
export function rng(seed: number): () => number {
  const next = splitmix32(seed);
  return () => next() / 4294967296;
}

export function shuffle<T>(items: T[], random: () => number): T[] {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export interface SplitResult<T = Example> {
  train: T[];
  validation: T[];
  test: T[];
}

/**
 * Hold out fractions for validation and test. With stratify, each label (the first label of
 * multi-label rows) is split on its own, so rare labels appear in every split they can, and
 * every label keeps at least one training example.
 */
export function splitExamples<T extends object>(
  examples: T[],
  fractions: { validation: number; test: number },
  seed: number,
  stratify: boolean,
): SplitResult<T> {
  const random = rng(seed);
  const groups = new Map<string, T[]>();
  for (const ex of examples) {
    const key = stratify ? ((ex as { labels?: string[] }).labels?.[0] ?? "") : "";
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(ex);
  }
  const out: SplitResult<T> = { train: [], validation: [], test: [] };
  for (const key of [...groups.keys()].sort()) {
    const g = shuffle(groups.get(key)!, random);
    let nTest = Math.round(g.length * fractions.test);
    let nVal = Math.round(g.length * fractions.validation);
    while (nTest + nVal > g.length - 1 && nTest + nVal > 0) {
      if (nTest >= nVal && nTest > 0) nTest--;
      else nVal--;
    }
    out.test.push(...g.slice(0, nTest));
    out.validation.push(...g.slice(nTest, nTest + nVal));
    out.train.push(...g.slice(nTest + nVal));
  }
  // Interleave labels again so that files and shards are not sorted by class.
  return { train: shuffle(out.train, random), validation: shuffle(out.validation, random), test: shuffle(out.test, random) };
}
