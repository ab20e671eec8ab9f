// Numerics for the samplers, small on purpose: search histories hold tens to a few thousand
// points, so dense O(n^3) linear algebra on Float64Arrays is exact and fast enough.

export const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** erfc with relative error < 1.2e-7 everywhere (Numerical Recipes' Chebyshev fit). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

export const normPdf = (z: number) => Math.exp(-0.5 * z * z - LOG_SQRT_2PI);
export const normCdf = (z: number) => 0.5 * erfc(-z / Math.SQRT2);

/** Mills ratio R(t) = (1 - Phi(t)) / phi(t) for t >= 0, by its continued fraction (Lentz). */
function millsRatio(t: number): number {
  if (t < 1) return (1 - normCdf(t)) / normPdf(t);
  // R(t) = 1/(t+ 1/(t+ 2/(t+ 3/(t+ ...))))
  let f = t;
  let c = t;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    d = t + k * d;
    d = d === 0 ? 1e-300 : 1 / d;
    c = t + k / c;
    if (c === 0) c = 1e-300;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return 1 / f;
}

/**
 * log EI for a maximised standardised target: z = (mu - best) / sigma.
 * Returns log(h(z)) with h(z) = phi(z) + z Phi(z), and h'(z)/h(z) = Phi(z)/h(z), stable
 * for very negative z where EI underflows (the acquisition must still rank such points).
 */
export function logH(z: number): { value: number; dlogh: number } {
  if (z > -1) {
    const cdf = normCdf(z);
    const h = normPdf(z) + z * cdf;
    return { value: Math.log(h), dlogh: cdf / h };
  }
  const t = -z;
  if (t > 1e6) return { value: -0.5 * t * t - LOG_SQRT_2PI - 2 * Math.log(t), dlogh: t };
  const r = millsRatio(t); // Phi(z) / phi(z)
  const hOverPhi = 1 - t * r; // h / phi, > 0
  return { value: -0.5 * t * t - LOG_SQRT_2PI + Math.log(hOverPhi), dlogh: r / hOverPhi };
}

/** log(sum(exp(xs))) without overflow. */
export function logSumExp(xs: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i]! > m) m = xs[i]!;
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += Math.exp(xs[i]! - m);
  return m + Math.log(s);
}

/** Lower Cholesky factor of a symmetric positive definite n x n matrix (row-major), or null. */
export function cholesky(a: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) {
        if (!(s > 0)) return null;
        l[i * n + i] = Math.sqrt(s);
      } else l[i * n + j] = s / l[j * n + j]!;
    }
  }
  return l;
}

/** Solve L x = b (forward substitution). */
export function solveLower(l: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i * n + k]! * x[k]!;
    x[i] = s / l[i * n + i]!;
  }
  return x;
}

/** Solve L^T x = b (back substitution). */
export function solveUpper(l: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k * n + i]! * x[k]!;
    x[i] = s / l[i * n + i]!;
  }
  return x;
}

/** A^-1 from its Cholesky factor. */
export function choleskyInverse(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  const e = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    e.fill(0);
    e[j] = 1;
    const col = solveUpper(l, n, solveLower(l, n, e));
    for (let i = 0; i < n; i++) inv[i * n + j] = col[i]!;
  }
  return inv;
}

export interface Minimum {
  x: Float64Array;
  value: number;
}

/**
 * Minimise f (returning value and gradient) with L-BFGS inside a box: iterates are projected
 * onto [lower, upper] and the search direction drops coordinates pinned at a bound whose
 * gradient points outwards. Backtracking Armijo line search. Enough for the smooth, low-
 * dimensional problems here (GP marginal likelihood, acquisition functions). (Long: the algorithm
 * as in Nocedal & Wright, two-loop recursion and line search inline, read top to bottom.)
 */
export function minimizeLbfgs(
  f: (x: Float64Array) => { value: number; grad: Float64Array },
  x0: ArrayLike<number>,
  opts: { lower?: ArrayLike<number>; upper?: ArrayLike<number>; maxIter?: number; memory?: number; tol?: number } = {},
): Minimum {
  const n = x0.length;
  const lo = opts.lower;
  const hi = opts.upper;
  const project = (x: Float64Array) => {
    if (lo) for (let i = 0; i < n; i++) if (x[i]! < lo[i]!) x[i] = lo[i]!;
    if (hi) for (let i = 0; i < n; i++) if (x[i]! > hi[i]!) x[i] = hi[i]!;
    return x;
  };
  const maxIter = opts.maxIter ?? 100;
  const m = opts.memory ?? 8;
  const tol = opts.tol ?? 1e-7;
  let x = project(Float64Array.from(x0));
  let cur = f(x);
  if (!Number.isFinite(cur.value)) return { x, value: cur.value };
  const sHist: Float64Array[] = [];
  const yHist: Float64Array[] = [];
  const dot = (a: Float64Array, b: Float64Array) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[i]! * b[i]!;
    return s;
  };
  for (let iter = 0; iter < maxIter; iter++) {
    const g = cur.grad;
    // Free coordinates: not pinned at a bound with the gradient pushing outwards.
    const free = new Uint8Array(n);
    for (let i = 0; i < n; i++) free[i] = (lo && x[i]! <= lo[i]! && g[i]! > 0) || (hi && x[i]! >= hi[i]! && g[i]! < 0) ? 0 : 1;
    // Two-loop recursion on the free coordinates.
    const q = Float64Array.from(g, (v, i) => (free[i] ? v : 0));
    const alphas: number[] = [];
    for (let k = sHist.length - 1; k >= 0; k--) {
      const rho = 1 / dot(yHist[k]!, sHist[k]!);
      const a = rho * dot(sHist[k]!, q);
      alphas[k] = a;
      for (let i = 0; i < n; i++) q[i] = q[i]! - a * yHist[k]![i]!;
    }
    if (sHist.length > 0) {
      const last = sHist.length - 1;
      const gamma = dot(sHist[last]!, yHist[last]!) / dot(yHist[last]!, yHist[last]!);
      for (let i = 0; i < n; i++) q[i] = q[i]! * gamma;
    }
    for (let k = 0; k < sHist.length; k++) {
      const rho = 1 / dot(yHist[k]!, sHist[k]!);
      const b = rho * dot(yHist[k]!, q);
      for (let i = 0; i < n; i++) q[i] = q[i]! + sHist[k]![i]! * (alphas[k]! - b);
    }
    const dir = Float64Array.from(q, (v, i) => (free[i] ? -v : 0));
    let slope = dot(dir, g);
    if (!(slope < 0)) {
      // Not a descent direction (curvature info stale): fall back to steepest descent.
      for (let i = 0; i < n; i++) dir[i] = free[i] ? -g[i]! : 0;
      slope = dot(dir, g);
      sHist.length = 0;
      yHist.length = 0;
      if (!(slope < 0)) break;
    }
    let step = iter === 0 && sHist.length === 0 ? Math.min(1, 1 / Math.sqrt(dot(g, g))) : 1;
    let next: { value: number; grad: Float64Array } | null = null;
    let xNext = x;
    for (let ls = 0; ls < 30; ls++) {
      xNext = project(Float64Array.from(x, (v, i) => v + step * dir[i]!));
      const cand = f(xNext);
      let actual = 0;
      for (let i = 0; i < n; i++) actual += g[i]! * (xNext[i]! - x[i]!);
      if (Number.isFinite(cand.value) && cand.value <= cur.value + 1e-4 * actual) {
        next = cand;
        break;
      }
      step *= 0.5;
    }
    if (!next) break;
    const s = Float64Array.from(xNext, (v, i) => v - x[i]!);
    const y = Float64Array.from(next.grad, (v, i) => v - g[i]!);
    const improvement = cur.value - next.value;
    x = xNext;
    cur = next;
    if (dot(s, y) > 1e-12) {
      sHist.push(s);
      yHist.push(y);
      if (sHist.length > m) {
        sHist.shift();
        yHist.shift();
      }
    }
    if (improvement <= tol * Math.max(1, Math.abs(cur.value))) break;
  }
  return { x, value: cur.value };
}

/** Yeo-Johnson power transform of one value (Yeo & Johnson 2000): Box-Cox extended to negatives. */
export function yeoJohnson(y: number, lambda: number): number {
  if (y >= 0) return Math.abs(lambda) < 1e-9 ? Math.log1p(y) : ((y + 1) ** lambda - 1) / lambda;
  return Math.abs(lambda - 2) < 1e-9 ? -Math.log1p(-y) : -((1 - y) ** (2 - lambda) - 1) / (2 - lambda);
}

/**
 * The Yeo-Johnson transform of `ys` with the lambda of maximum Gaussian likelihood (golden-section
 * search over [-3, 3]), standardised to mean 0 and variance 1. Makes skewed objectives (a few huge
 * losses beside many small ones) look Gaussian to a GP, as HEBO does (Cowen-Rivers et al. 2022).
 */
export function gaussianize(ys: number[]): number[] {
  const n = ys.length;
  const standardize = (xs: number[]) => {
    const mean = xs.reduce((a, b) => a + b, 0) / n;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
    return sd > 0 && Number.isFinite(sd) ? xs.map((x) => (x - mean) / sd) : xs.map(() => 0);
  };
  const z = standardize(ys);
  const logJacobian = z.reduce((a, v) => a + Math.sign(v) * Math.log1p(Math.abs(v)), 0);
  const logLik = (lambda: number) => {
    const t = z.map((v) => yeoJohnson(v, lambda));
    const mean = t.reduce((a, b) => a + b, 0) / n;
    const variance = t.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    return variance > 0 && Number.isFinite(variance) ? -0.5 * n * Math.log(variance) + (lambda - 1) * logJacobian : -Infinity;
  };
  const phi = (Math.sqrt(5) - 1) / 2;
  let [a, b] = [-3, 3];
  let c = b - phi * (b - a);
  let d = a + phi * (b - a);
  let [fc, fd] = [logLik(c), logLik(d)];
  for (let i = 0; i < 60; i++) {
    if (fc > fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - phi * (b - a);
      fc = logLik(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + phi * (b - a);
      fd = logLik(d);
    }
  }
  return standardize(z.map((v) => yeoJohnson(v, (a + b) / 2)));
}
