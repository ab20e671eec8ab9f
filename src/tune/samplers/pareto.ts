// Pareto helpers for several objectives, all as losses (lower is better).

export function dominates(a: number[], b: number[]): boolean {
  let strictly = false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]! > b[i]!) return false;
    if (a[i]! < b[i]!) strictly = true;
  }
  return strictly;
}

/** Non-domination rank of each point: 0 = on the Pareto front. */
export function nondominatedRanks(points: number[][]): number[] {
  const ranks = Array(points.length).fill(-1);
  let remaining = points.map((_, i) => i);
  for (let r = 0; remaining.length > 0; r++) {
    const front = remaining.filter((i) => !remaining.some((j) => j !== i && dominates(points[j]!, points[i]!)));
    for (const i of front) ranks[i] = r;
    remaining = remaining.filter((i) => ranks[i] === -1);
  }
  return ranks;
}

/** NSGA-II crowding distance within each rank: larger = more isolated = preferred on ties. */
export function crowdingDistances(points: number[][], ranks: number[]): number[] {
  const out = Array(points.length).fill(0);
  const m = points[0]?.length ?? 0;
  for (const r of new Set(ranks)) {
    const idx = ranks.map((x, i) => (x === r ? i : -1)).filter((i) => i >= 0);
    for (let k = 0; k < m; k++) {
      const sorted = [...idx].sort((a, b) => points[a]![k]! - points[b]![k]!);
      const span = points[sorted.at(-1)!]![k]! - points[sorted[0]!]![k]! || 1;
      out[sorted[0]!] = Infinity;
      out[sorted.at(-1)!] = Infinity;
      for (let j = 1; j < sorted.length - 1; j++) out[sorted[j]!] += (points[sorted[j + 1]!]![k]! - points[sorted[j - 1]!]![k]!) / span;
    }
  }
  return out;
}
