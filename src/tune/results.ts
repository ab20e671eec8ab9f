// What a study leaves behind in <store>/studies/<name>/: the leaderboard (trials.csv), the
// best config as a ready-to-train YAML, parameter importance, the Pareto front for several
// objectives, plots, and summary.json with all of it.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseDocument } from "yaml";
import type { LoadedConfig } from "../config/load.js";
import { resolvePath } from "../config/load.js";
import { svgToPng } from "../report/plots.js";
import { writeFileAtomic, writeJsonAtomic } from "../util/fs.js";
import { historyChart, intermediateChart, parallelChart, paretoChart } from "./plots.js";
import { nondominatedRanks } from "./samplers/pareto.js";
import { lossOf } from "./samplers/types.js";
import type { Objective, Space, Value } from "./space.js";
import type { StudyRow, TrialRow } from "./storage/types.js";

export interface StudyReport {
  best: TrialRow | null;
  /** Several objectives: the complete trials no other trial beats on every objective. */
  pareto: TrialRow[];
  /** Share of the objective's variance explained by each parameter alone, summing to 1. */
  importance: { param: string; importance: number }[];
  counts: Record<string, number>;
  /** Epochs trained over all trials: the study's compute. */
  epochs: number;
  files: string[];
}

/**
 * First-order importance: how much of the objective's variance the parameter's value alone
 * explains (between-group variance over total, groups = its choices, or quantile bins of
 * numeric values), normalised to sum to 1. A cheap, assumption-light stand-in for fANOVA
 * that ranks the same way on the studies we tried; interactions are not attributed.
 */
export function importance(space: Space, trials: TrialRow[], objectives: Objective[]): { param: string; importance: number }[] {
  const done = trials.filter((t) => t.state === "complete" && t.values);
  if (done.length < 3) return [];
  const y = done.map((t) => -lossOf(t.values!, objectives));
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  const total = y.reduce((a, b) => a + (b - mean) ** 2, 0);
  const raw = space.params.map((p) => {
    const keyOf = (v: Value | undefined): string => {
      if (v === undefined) return "(inactive)";
      if (p.dist.kind === "categorical") return JSON.stringify(v);
      return "";
    };
    let groups: Map<string, number[]>;
    if (p.dist.kind === "categorical") {
      groups = new Map();
      done.forEach((t, i) => groups.set(keyOf(t.params[p.name]), [...(groups.get(keyOf(t.params[p.name])) ?? []), y[i]!]));
    } else {
      const bins = Math.max(2, Math.min(5, Math.floor(done.length / 4)));
      const active = done.map((t, i) => ({ v: t.params[p.name], y: y[i]! })).filter((x) => typeof x.v === "number") as { v: number; y: number }[];
      const sorted = [...active].sort((a, b) => a.v - b.v);
      groups = new Map();
      sorted.forEach((x, i) => {
        const k = String(Math.min(bins - 1, Math.floor((i * bins) / sorted.length)));
        groups.set(k, [...(groups.get(k) ?? []), x.y]);
      });
      const inactive = done.map((t, i) => (t.params[p.name] === undefined ? y[i]! : null)).filter((v): v is number => v !== null);
      if (inactive.length) groups.set("(inactive)", inactive);
    }
    let between = 0;
    for (const g of groups.values()) {
      const m = g.reduce((a, b) => a + b, 0) / g.length;
      between += g.length * (m - mean) ** 2;
    }
    return { param: p.name, share: total > 0 ? between / total : 0 };
  });
  const sum = raw.reduce((a, r) => a + r.share, 0);
  return raw.map((r) => ({ param: r.param, importance: sum > 0 ? r.share / sum : 0 })).sort((a, b) => b.importance - a.importance);
}

export function paretoFront(trials: TrialRow[], objectives: Objective[]): TrialRow[] {
  const done = trials.filter((t) => t.state === "complete" && t.values);
  const losses = done.map((t) => objectives.map((_, i) => lossOf(t.values!, objectives, i)));
  const ranks = nondominatedRanks(losses);
  return done.filter((_, i) => ranks[i] === 0);
}

/** Fields of a config that hold paths relative to the config file. */
const PATH_FIELDS = [
  ["data", "train"],
  ["data", "validation"],
  ["data", "test"],
  ["hierarchy", "taxonomy"],
  ["model", "path"],
];

/**
 * The user's config with a trial's values set and the tune section removed, comments kept.
 * Relative paths become absolute so the file works from wherever it is written.
 */
export function bestConfigYaml(loaded: LoadedConfig, sets: string[], params: Record<string, Value>, header: string): string {
  const doc = loaded.file ? parseDocument(readFileSync(loaded.file, "utf8")) : parseDocument("{}");
  const setIn = (path: string[], value: unknown) => doc.setIn(path, doc.createNode(value));
  for (const s of sets) {
    const eq = s.indexOf("=");
    if (eq > 0) setIn(s.slice(0, eq).split("."), parseDocument(s.slice(eq + 1)).toJS());
  }
  for (const [k, v] of Object.entries(params)) setIn(k.split("."), v);
  doc.deleteIn(["tune"]);
  for (const path of PATH_FIELDS) {
    const node = doc.getIn(path);
    const fix = (p: unknown) =>
      typeof p === "string" && (p.startsWith(".") || p.includes("/")) && existsSync(resolvePath(loaded.baseDir, p)) ? resolvePath(loaded.baseDir, p) : p;
    if (typeof node === "string") setIn(path, fix(node));
    else if (doc.getIn([...path, "path"]) !== undefined) setIn([...path, "path"], fix(doc.getIn([...path, "path"])));
  }
  doc.commentBefore = header;
  return doc.toString();
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function writeStudyReport(args: {
  study: StudyRow;
  trials: TrialRow[];
  objectives: Objective[];
  outDir: string;
  config: LoadedConfig;
  space: Space;
}): StudyReport {
  const { study, trials, objectives, outDir, space } = args;
  const files: string[] = [];
  const put = (name: string, data: string | Uint8Array) => {
    writeFileAtomic(join(outDir, name), data);
    files.push(join(outDir, name));
  };
  const multi = objectives.length > 1;
  const complete = trials.filter((t) => t.state === "complete" && t.values);
  const best = multi ? null : ([...complete].sort((a, b) => lossOf(a.values!, objectives) - lossOf(b.values!, objectives) || a.number - b.number)[0] ?? null);
  const pareto = multi ? paretoFront(trials, objectives) : best ? [best] : [];
  const imp = importance(space, trials, objectives);
  const counts: Record<string, number> = {};
  for (const t of trials) counts[t.state] = (counts[t.state] ?? 0) + 1;
  const epochs = trials.reduce((a, t) => a + (t.epochs ?? 0), 0);

  // Leaderboard, best first.
  const ranked = [...trials].sort((a, b) => {
    const rank = (t: TrialRow) => (t.state === "complete" ? 0 : t.state === "pruned" ? 1 : 2);
    return rank(a) - rank(b) || (a.values && b.values ? lossOf(a.values, objectives) - lossOf(b.values, objectives) : 0) || a.number - b.number;
  });
  const header = ["number", "state", ...objectives.map((o) => o.metric), ...space.params.map((p) => p.name), "epochs", "seconds", "run", "error"];
  const rows = ranked.map((t) => [
    t.number,
    t.state,
    ...objectives.map((_, i) => t.values?.[i] ?? null),
    ...space.params.map((p) => t.params[p.name] ?? null),
    t.epochs,
    t.seconds,
    t.runId,
    t.error,
  ]);
  put("trials.csv", `${[header, ...rows].map((r) => r.map(csvCell).join(",")).join("\n")}\n`);

  const chosen = best ?? pareto[0] ?? null;
  if (chosen) {
    const note = ` Best config of study "${study.name}": trial ${chosen.number}, ${objectives.map((o, i) => `${o.metric} ${chosen.values![i]!.toFixed(4)}`).join(", ")} (validation).\n Train it: hone train ${join(outDir, "best.yaml")}`;
    put("best.yaml", bestConfigYaml(args.config, study.definition.sets, chosen.params, note));
  }
  if (multi)
    pareto.forEach((t, i) =>
      put(
        `pareto-${i + 1}.yaml`,
        bestConfigYaml(
          args.config,
          study.definition.sets,
          t.params,
          ` Pareto-optimal trial ${t.number} of study "${study.name}": ${objectives.map((o, j) => `${o.metric} ${t.values![j]!.toFixed(4)}`).join(", ")}`,
        ),
      ),
    );

  const charts: [string, string][] = [];
  if (complete.length > 0) {
    charts.push(["history", historyChart(objectives[0]!.metric, objectives[0]!.direction === "maximize", trials)]);
    charts.push(["parallel", parallelChart(objectives[0]!.metric, objectives[0]!.direction === "maximize", space.params, trials)]);
  }
  if (trials.some((t) => t.intermediate.length > 0)) charts.push(["intermediate", intermediateChart(objectives[0]!.metric, trials)]);
  if (multi && complete.length > 0)
    charts.push(["pareto", paretoChart([objectives[0]!.metric, objectives[1]!.metric], trials, new Set(pareto.map((t) => t.id)))]);
  for (const [name, svg] of charts) {
    put(`${name}.svg`, svg);
    put(`${name}.png`, svgToPng(svg));
  }
  const summary = {
    study: study.name,
    objectives,
    counts,
    epochs,
    best: best && { number: best.number, values: best.values, params: best.params, run: best.runId },
    pareto: pareto.map((t) => ({ number: t.number, values: t.values, params: t.params, run: t.runId })),
    importance: imp,
  };
  writeJsonAtomic(join(outDir, "summary.json"), summary);
  files.push(join(outDir, "summary.json"));
  return { best, pareto, importance: imp, counts, epochs, files };
}
