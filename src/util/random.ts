// splitmix32: a small, fast generator that gives the same numbers on every machine
// (Math.random is not seedable). Seeded splits and the search's Rng both build on it.

/** Uniform 32-bit unsigned integers from a 32-bit seed. */
export function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}
