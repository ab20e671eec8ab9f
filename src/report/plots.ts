// Plots as SVG (written by hand: a few shapes and text), rasterised to PNG with resvg.
import { Resvg } from "@resvg/resvg-js";

export interface Series {
  name: string;
  points: [number, number][];
  color: string;
  /** Plot against the right-hand axis. */
  right?: boolean;
}

export const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
export const fmt = (v: number) => (Number.isInteger(v) || Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2));

export function ticks(lo: number, hi: number, n = 5): number[] {
  if (hi <= lo) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(Math.round(v / step) * step);
  return out;
}

export function extent(values: number[]): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

/** A line chart of metric series against steps; series with `right` use a second y axis. */
export function lineChart(title: string, xLabel: string, series: Series[], yLabels: [string, string?]): string {
  const W = 720;
  const H = 400;
  const m = { l: 64, r: 64, t: 40, b: 52 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = series.flatMap((s) => s.points);
  const [x0, x1] = extent(all.map((p) => p[0]));
  const left = series.filter((s) => !s.right).flatMap((s) => s.points.map((p) => p[1]));
  const right = series.filter((s) => s.right).flatMap((s) => s.points.map((p) => p[1]));
  const [l0, l1] = extent(left.length ? left : [0, 1]);
  const [r0, r1] = extent(right.length ? right : [0, 1]);
  const X = (x: number) => m.l + ((x - x0) / (x1 - x0)) * pw;
  const Y = (y: number, r?: boolean) => (r ? m.t + ph - ((y - r0) / (r1 - r0)) * ph : m.t + ph - ((y - l0) / (l1 - l0)) * ph);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  for (const t of ticks(l0, l1)) {
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${Y(t)}" y2="${Y(t)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.l - 6}" y="${Y(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  if (right.length) for (const t of ticks(r0, r1)) parts.push(`<text x="${m.l + pw + 6}" y="${Y(t, true) + 4}">${fmt(t)}</text>`);
  for (const t of ticks(x0, x1, 8)) parts.push(`<text x="${X(t)}" y="${m.t + ph + 18}" text-anchor="middle">${fmt(t)}</text>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabels[0])}</text>`);
  if (yLabels[1]) parts.push(`<text transform="translate(${W - 12} ${m.t + ph / 2}) rotate(90)" text-anchor="middle">${esc(yLabels[1])}</text>`);
  const legend = series.filter((s) => s.points.length > 0);
  const legendW = 24 + 7 * Math.max(...legend.map((s) => s.name.length), 0);
  series.forEach((s) => {
    if (s.points.length === 0) return;
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1], s.right).toFixed(1)}`).join("");
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    if (s.points.length <= 40)
      for (const p of s.points) parts.push(`<circle cx="${X(p[0]).toFixed(1)}" cy="${Y(p[1], s.right).toFixed(1)}" r="3" fill="${s.color}"/>`);
  });
  // Legend in the upper right, on a white box so that curves never run through it.
  const lx = m.l + pw - legendW - 8;
  parts.push(`<rect x="${lx}" y="${m.t + 6}" width="${legendW}" height="${legend.length * 18 + 6}" fill="white" fill-opacity="0.9" stroke="#ccc"/>`);
  legend.forEach((s, i) => {
    parts.push(
      `<rect x="${lx + 6}" y="${m.t + 15 + i * 18}" width="12" height="3" fill="${s.color}"/><text x="${lx + 22}" y="${m.t + 20 + i * 18}">${esc(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/** Confusion matrix as a heatmap of row-normalised counts; label names shown up to 40 classes. */
export function confusionChart(title: string, labels: string[], confusion: number[][]): string {
  const n = labels.length;
  const showNames = n <= 40;
  const cell = Math.max(3, Math.min(28, Math.floor(640 / n)));
  const margin = showNames ? Math.min(180, 12 + 6.5 * Math.max(...labels.map((l) => l.length))) : 40;
  const W = margin + cell * n + (showNames ? margin * 0.6 : 20);
  const H = margin + cell * n + 40;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="10">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${margin + (cell * n) / 2}" y="${H - 6}" text-anchor="middle" font-size="11">predicted</text>`,
    `<text transform="translate(12 ${margin + (cell * n) / 2}) rotate(-90)" text-anchor="middle" font-size="11">true</text>`,
  ];
  confusion.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((v, j) => {
      if (v === 0) return;
      const f = v / total;
      // Correct predictions in blue, errors in red; darker = larger share of the true class.
      const color = i === j ? `rgba(33,102,172,${0.15 + 0.85 * f})` : `rgba(214,47,39,${0.25 + 0.75 * f})`;
      parts.push(
        `<rect x="${margin + j * cell}" y="${margin + i * cell}" width="${cell}" height="${cell}" fill="${color}"><title>${esc(labels[i]!)} -> ${esc(labels[j]!)}: ${v}</title></rect>`,
      );
    });
    if (showNames) {
      parts.push(`<text x="${margin - 4}" y="${margin + i * cell + cell / 2 + 3}" text-anchor="end">${esc(labels[i]!)}</text>`);
      parts.push(`<text transform="translate(${margin + i * cell + cell / 2 + 3} ${margin - 4}) rotate(-60)">${esc(labels[i]!)}</text>`);
    }
  });
  parts.push(`<rect x="${margin}" y="${margin}" width="${cell * n}" height="${cell * n}" fill="none" stroke="#999"/>`);
  parts.push("</svg>");
  return parts.join("\n");
}

/** Labelled points (x, y), the circle's area proportional to `size`. */
export function scatterChart(title: string, xLabel: string, yLabel: string, points: { label: string; x: number; y: number; size: number }[]): string {
  const W = 760;
  const H = 440;
  const m = { l: 70, r: 30, t: 44, b: 56 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const [x0, x1] = extent([0, ...points.map((p) => p.x * 1.1)]);
  const lo = Math.min(...points.map((p) => p.y));
  const hi = Math.max(...points.map((p) => p.y));
  const span = Math.max(hi - lo, 0.02);
  const [y0, y1] = [lo - span * 0.6, hi + span * 0.6];
  const X = (x: number) => m.l + ((x - x0) / (x1 - x0)) * pw;
  const Y = (y: number) => m.t + ph - ((y - y0) / (y1 - y0)) * ph;
  const maxSize = Math.max(...points.map((p) => p.size), 1);
  const colors = ["#2166ac", "#1b7837", "#d6604d", "#762a83", "#e08214"];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`,
  ];
  for (const t of ticks(y0, y1))
    parts.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${Y(t)}" y2="${Y(t)}" stroke="#e5e5e5"/><text x="${m.l - 6}" y="${Y(t) + 4}" text-anchor="end">${fmt(t)}</text>`,
    );
  for (const t of ticks(x0, x1, 8)) parts.push(`<text x="${X(t)}" y="${m.t + ph + 18}" text-anchor="middle">${fmt(t)}</text>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 14}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  points.forEach((p, i) => {
    const r = 6 + 22 * Math.sqrt(p.size / maxSize);
    const c = colors[i % colors.length]!;
    parts.push(`<circle cx="${X(p.x).toFixed(1)}" cy="${Y(p.y).toFixed(1)}" r="${r.toFixed(1)}" fill="${c}" fill-opacity="0.35" stroke="${c}"/>`);
    // Labels go to the side with room, alternately above and below to keep close points readable.
    const right = X(p.x) < m.l + pw * 0.6;
    parts.push(
      `<text x="${(X(p.x) + (right ? r + 4 : -r - 4)).toFixed(1)}" y="${(Y(p.y) + 4 + (i % 2 ? 14 : -8)).toFixed(1)}" text-anchor="${right ? "start" : "end"}" fill="${c}">${esc(p.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}

export interface TreeCell {
  name: string;
  /** Index of the parent cell, or -1 at the top level; parents come before their children. */
  parent: number;
  depth: number;
  /** Width share: the node's number of true examples. */
  weight: number;
  /** 0..1, drawn red (0) to green (1): the node's F1. */
  value: number;
  tooltip: string;
}

/** An icicle chart: one row per level, each node as wide as its examples, coloured by score;
 * where a hierarchy loses its examples shows as red blocks under their parents. */
export function icicleChart(title: string, cells: TreeCell[], legend: string): string {
  const W = 1200;
  const rowH = 56;
  const depth = Math.max(1, ...cells.map((c) => c.depth));
  const top = 40;
  const H = top + depth * rowH + 44;
  const color = (v: number) => {
    // red -> amber -> green
    const r = v < 0.5 ? 215 : Math.round(215 - (v - 0.5) * 2 * 165);
    const g = v < 0.5 ? Math.round(48 + v * 2 * 140) : Math.round(188 - (1 - v) * 2 * 20);
    return `rgb(${r},${g},60)`;
  };
  const x0 = new Array<number>(cells.length).fill(0);
  const w = new Array<number>(cells.length).fill(0);
  const used = new Map<number, number>();
  const totalTop = cells.filter((c) => c.parent === -1).reduce((s, c) => s + c.weight, 0) || 1;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="10">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  cells.forEach((c, i) => {
    const [px, pw, pweight] = c.parent === -1 ? [10, W - 20, totalTop] : [x0[c.parent]!, w[c.parent]!, cells[c.parent]!.weight || 1];
    const offset = used.get(c.parent) ?? 0;
    x0[i] = px + (offset / pweight) * pw;
    w[i] = (c.weight / pweight) * pw;
    used.set(c.parent, offset + c.weight);
    if (w[i]! <= 0) return;
    const y = top + (c.depth - 1) * rowH;
    parts.push(
      `<rect x="${x0[i]!.toFixed(1)}" y="${y}" width="${Math.max(0.5, w[i]! - 0.5).toFixed(1)}" height="${rowH - 4}" fill="${color(c.value)}" stroke="white" stroke-width="0.5"><title>${esc(c.tooltip)}</title></rect>`,
    );
    if (w[i]! > 7 * Math.min(c.name.length, 18) + 6) {
      parts.push(`<text x="${(x0[i]! + w[i]! / 2).toFixed(1)}" y="${y + rowH / 2}" text-anchor="middle">${esc(c.name.slice(0, 18))}</text>`);
      parts.push(
        `<text x="${(x0[i]! + w[i]! / 2).toFixed(1)}" y="${y + rowH / 2 + 13}" text-anchor="middle" font-size="9">${(c.value * 100).toFixed(0)}%</text>`,
      );
    }
  });
  const ly = H - 22;
  for (let k = 0; k <= 10; k++) parts.push(`<rect x="${W / 2 - 110 + k * 20}" y="${ly}" width="20" height="10" fill="${color(k / 10)}"/>`);
  parts.push(`<text x="${W / 2 - 116}" y="${ly + 9}" text-anchor="end">0</text><text x="${W / 2 + 116}" y="${ly + 9}">1  ${esc(legend)}</text>`);
  parts.push("</svg>");
  return parts.join("\n");
}

export function svgToPng(svg: string): Uint8Array {
  return new Resvg(svg, { background: "white", font: { loadSystemFonts: true } }).render().asPng();
}
