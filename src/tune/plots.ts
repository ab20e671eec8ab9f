// Study plots (SVG, rasterised by report/plots.ts): optimisation history, parallel coordinates,
// intermediate curves and, for several objectives, the Pareto front.
import { esc, extent, fmt, ticks } from "../report/plots.js";
import type { Param } from "./space.js";
import type { TrialRow } from "./storage/types.js";

const W = 760;
const H = 420;
const M = { l: 70, r: 30, t: 44, b: 56 };
const COLOR = { complete: "#2166ac", pruned: "#bbbbbb", best: "#d6604d", front: "#1b7837" };

function frame(
  title: string,
  xLabel: string,
  yLabel: string,
  x: [number, number],
  y: [number, number],
  axisTicks = true,
): { parts: string[]; X: (v: number) => number; Y: (v: number) => number } {
  const pw = W - M.l - M.r;
  const ph = H - M.t - M.b;
  const X = (v: number) => M.l + ((v - x[0]) / (x[1] - x[0])) * pw;
  const Y = (v: number) => M.t + ph - ((v - y[0]) / (y[1] - y[0])) * ph;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  if (axisTicks)
    for (const t of ticks(y[0], y[1]))
      parts.push(
        `<line x1="${M.l}" x2="${M.l + pw}" y1="${Y(t)}" y2="${Y(t)}" stroke="#e5e5e5"/><text x="${M.l - 6}" y="${Y(t) + 4}" text-anchor="end">${fmt(t)}</text>`,
      );
  if (axisTicks) for (const t of ticks(x[0], x[1], 8)) parts.push(`<text x="${X(t)}" y="${M.t + ph + 18}" text-anchor="middle">${fmt(t)}</text>`);
  parts.push(`<rect x="${M.l}" y="${M.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${M.l + pw / 2}" y="${H - 14}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(18 ${M.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  return { parts, X, Y };
}

function legend(parts: string[], items: [string, string][]) {
  const x = W - M.r - 150;
  parts.push(`<rect x="${x}" y="${M.t + 6}" width="142" height="${items.length * 18 + 6}" fill="white" fill-opacity="0.9" stroke="#ccc"/>`);
  items.forEach(([name, c], i) =>
    parts.push(`<circle cx="${x + 12}" cy="${M.t + 18 + i * 18}" r="4" fill="${c}"/><text x="${x + 22}" y="${M.t + 22 + i * 18}">${esc(name)}</text>`),
  );
}

/** Objective value of every finished trial by trial number, with the best so far as a line. */
export function historyChart(metric: string, maximize: boolean, trials: TrialRow[]): string {
  const done = trials.filter((t) => (t.state === "complete" || t.state === "pruned") && t.values).sort((a, b) => a.number - b.number);
  const ys = done.map((t) => t.values![0]!);
  const { parts, X, Y } = frame(
    `Optimisation history: ${metric}`,
    "trial",
    `${metric} (validation)`,
    extent(done.map((t) => t.number)),
    extent(ys.length ? ys : [0, 1]),
  );
  let best: number | null = null;
  const line: string[] = [];
  for (const t of done) {
    const v = t.values![0]!;
    parts.push(`<circle cx="${X(t.number).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="4" fill="${t.state === "pruned" ? COLOR.pruned : COLOR.complete}"/>`);
    if (t.state === "complete" && (best === null || (maximize ? v > best : v < best))) best = v;
    if (best !== null) line.push(`${line.length ? "L" : "M"}${X(t.number).toFixed(1)},${Y(best).toFixed(1)}`);
  }
  parts.push(`<path d="${line.join("")}" fill="none" stroke="${COLOR.best}" stroke-width="2"/>`);
  legend(parts, [
    ["complete", COLOR.complete],
    ["pruned (best so far)", COLOR.pruned],
    ["best complete", COLOR.best],
  ]);
  return [...parts, "</svg>"].join("\n");
}

/** Parallel coordinates: one axis per parameter and one for the objective; the better the trial, the darker its line. */
export function parallelChart(metric: string, maximize: boolean, params: Param[], trials: TrialRow[]): string {
  const done = trials.filter((t) => t.state === "complete" && t.values);
  const axes = [...params.map((p) => p.name), metric];
  const pw = W - M.l - M.r;
  const { parts } = frame("Parallel coordinates (complete trials)", "", "", [0, 1], [0, 1], false);
  const ph = H - M.t - M.b;
  const ax = (i: number) => M.l + (axes.length === 1 ? pw / 2 : (i / (axes.length - 1)) * pw);
  const scales = axes.map((_name, i) => {
    if (i === params.length) {
      const [lo, hi] = extent(done.map((t) => t.values![0]!));
      return { pos: (v: unknown) => ((v as number) - lo) / (hi - lo), labels: [fmt(lo), fmt(hi)] };
    }
    const d = params[i]!.dist;
    if (d.kind === "categorical")
      return {
        pos: (v: unknown) => (d.choices.length === 1 ? 0.5 : d.choices.indexOf(v as (typeof d.choices)[number]) / (d.choices.length - 1)),
        labels: [String(d.choices[0]), String(d.choices.at(-1))],
      };
    const f = (v: number) => (d.log ? Math.log(v) : v);
    return { pos: (v: unknown) => (f(v as number) - f(d.low)) / (f(d.high) - f(d.low) || 1), labels: [fmt(d.low), fmt(d.high)] };
  });
  const vals = done.map((t) => t.values![0]!);
  const [lo, hi] = extent(vals);
  const order = [...done].sort((a, b) => (maximize ? a.values![0]! - b.values![0]! : b.values![0]! - a.values![0]!));
  for (const t of order) {
    const q = (maximize ? t.values![0]! - lo : hi - t.values![0]!) / (hi - lo) || 0;
    const pts = axes.map((name, i) => {
      const v = i === params.length ? t.values![0] : t.params[name];
      return v === undefined ? null : [ax(i), M.t + ph - scales[i]!.pos(v) * ph];
    });
    const d = pts.map((p, i) => (p ? `${i && pts[i - 1] ? "L" : "M"}${p[0]!.toFixed(1)},${p[1]!.toFixed(1)}` : "")).join("");
    parts.push(
      `<path d="${d}" fill="none" stroke="rgb(${Math.round(220 - 187 * q)},${Math.round(220 - 118 * q)},${Math.round(230 - 58 * q)})" stroke-width="${1 + q * 1.5}"/>`,
    );
  }
  axes.forEach((name, i) => {
    parts.push(`<line x1="${ax(i)}" x2="${ax(i)}" y1="${M.t}" y2="${M.t + ph}" stroke="#444"/>`);
    parts.push(`<text x="${ax(i)}" y="${M.t + ph + 16}" text-anchor="middle" font-size="11">${esc(name.split(".").at(-1)!)}</text>`);
    parts.push(
      `<text x="${ax(i) + 3}" y="${M.t + ph - 3}" font-size="10" fill="#666">${esc(scales[i]!.labels[0]!)}</text><text x="${ax(i) + 3}" y="${M.t + 11}" font-size="10" fill="#666">${esc(scales[i]!.labels[1]!)}</text>`,
    );
  });
  return [...parts, "</svg>"].join("\n");
}

/** Intermediate values against epochs: pruned trials end early (grey). */
export function intermediateChart(metric: string, trials: TrialRow[]): string {
  const withCurves = trials.filter((t) => t.intermediate.length > 0);
  const xs = withCurves.flatMap((t) => t.intermediate.map((p) => p.resource));
  const ys = withCurves.flatMap((t) => t.intermediate.map((p) => p.value));
  const { parts, X, Y } = frame(`Intermediate ${metric} by epoch`, "epochs", `${metric} (validation)`, extent([0, ...xs]), extent(ys.length ? ys : [0, 1]));
  // Pruned curves first, so the ones that ran to the end are drawn on top.
  const rank = (t: TrialRow) => (t.state === "pruned" ? 0 : 1);
  for (const t of [...withCurves].sort((a, b) => rank(a) - rank(b))) {
    const c = t.state === "pruned" ? COLOR.pruned : COLOR.complete;
    const d = t.intermediate.map((p, i) => `${i ? "L" : "M"}${X(p.resource).toFixed(1)},${Y(p.value).toFixed(1)}`).join("");
    parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.5"/>`);
    for (const p of t.intermediate) parts.push(`<circle cx="${X(p.resource).toFixed(1)}" cy="${Y(p.value).toFixed(1)}" r="2.5" fill="${c}"/>`);
  }
  legend(parts, [
    ["ran to the end", COLOR.complete],
    ["pruned", COLOR.pruned],
  ]);
  return [...parts, "</svg>"].join("\n");
}

/** Two objectives: every complete trial, the Pareto front joined by a line. */
export function paretoChart(names: [string, string], trials: TrialRow[], front: Set<number>): string {
  const done = trials.filter((t) => t.state === "complete" && t.values);
  const { parts, X, Y } = frame("Pareto front", names[0], names[1], extent(done.map((t) => t.values![0]!)), extent(done.map((t) => t.values![1]!)));
  const onFront = done.filter((t) => front.has(t.id)).sort((a, b) => a.values![0]! - b.values![0]!);
  parts.push(
    `<path d="${onFront.map((t, i) => `${i ? "L" : "M"}${X(t.values![0]!).toFixed(1)},${Y(t.values![1]!).toFixed(1)}`).join("")}" fill="none" stroke="${COLOR.front}" stroke-width="2"/>`,
  );
  for (const t of done)
    parts.push(
      `<circle cx="${X(t.values![0]!).toFixed(1)}" cy="${Y(t.values![1]!).toFixed(1)}" r="${front.has(t.id) ? 5 : 3.5}" fill="${front.has(t.id) ? COLOR.front : COLOR.complete}"/>`,
    );
  legend(parts, [
    ["trial", COLOR.complete],
    ["Pareto front", COLOR.front],
  ]);
  return [...parts, "</svg>"].join("\n");
}
