// The search space: `tune.space` of a config parsed into typed parameters, checked against the
// config schema (unknown paths, values the field would refuse), and the maps between a
// parameter's value and the unit interval the samplers work in.
import { parse as parseYamlValue } from "yaml";
import type { LoadedConfig } from "../config/load.js";
import { knownKeys, setPath } from "../config/load.js";
import { UserConfig, type TuneConfig } from "../config/schema.js";
import { HoneError, type Issue } from "../util/errors.js";
import { closest } from "../util/text.js";

export type Value = number | string | boolean | null;

export type Dist =
  | { kind: "float"; low: number; high: number; log: boolean; step: number | null }
  | { kind: "int"; low: number; high: number; log: boolean; step: number }
  | { kind: "categorical"; choices: Value[] };

export interface Param {
  /** Dotted config path, e.g. "train.lr". */
  name: string;
  dist: Dist;
  /** Active only when another (categorical) parameter took one of these values. */
  when: { param: string; values: Value[] } | null;
}

/** Parameters in dependency order: a condition's parameter comes before the ones it guards. */
export interface Space {
  params: Param[];
}

/** A trial's values, for its active parameters only. */
export type Assignment = Record<string, Value>;

const FUNCTIONS = ["uniform", "loguniform", "quniform", "int", "logint", "choice"] as const;

/** "loguniform(1e-5, 1e-3)" -> Dist, or a message saying what is wrong. */
export function parseDist(spec: string | Value[]): Dist | string {
  if (Array.isArray(spec)) return spec.length === 0 ? "choice() needs at least one value" : { kind: "categorical", choices: dedupe(spec) };
  const m = /^\s*([a-z]+)\s*\((.*)\)\s*$/s.exec(spec);
  if (!m) return `"${spec}" is not a distribution: write e.g. loguniform(1e-5, 1e-3), int(0, 6) or choice(8, 16, 32)`;
  const fn = m[1]!;
  if (!(FUNCTIONS as readonly string[]).includes(fn)) {
    const near = closest(fn, [...FUNCTIONS]);
    return `unknown distribution "${fn}"${near ? ` (did you mean ${near}?)` : ""}: one of ${FUNCTIONS.join(", ")}`;
  }
  const args: Value[] = m[2]!.trim() === "" ? [] : splitArgs(m[2]!).map((a) => parseYamlValue(a) as Value);
  if (fn === "choice") return args.length === 0 ? "choice() needs at least one value" : { kind: "categorical", choices: dedupe(args) };
  const nums = args.map(Number);
  const want = fn === "quniform" ? 3 : fn === "int" ? [2, 3] : 2;
  const ok = Array.isArray(want) ? want.includes(args.length) : args.length === want;
  if (!ok) return `${fn}() takes ${Array.isArray(want) ? want.join(" or ") : want} numbers, got ${args.length}`;
  if (args.some((a) => typeof a !== "number" || !Number.isFinite(a))) return `${fn}() takes numbers, got ${args.map((a) => JSON.stringify(a)).join(", ")}`;
  const [low, high, step] = nums as [number, number, number | undefined];
  if (low > high) return `low ${low} is greater than high ${high}`;
  const log = fn === "loguniform" || fn === "logint";
  if (log && low <= 0) return `a log range needs low > 0, got ${low} (log of ${low} is undefined): use e.g. loguniform(1e-6, ${high})`;
  if (step !== undefined && !(step > 0)) return `step must be > 0, got ${step}`;
  if (fn === "int" || fn === "logint") {
    if (!Number.isInteger(low) || !Number.isInteger(high)) return `${fn}() bounds must be integers, got ${low}, ${high}`;
    if (step !== undefined && !Number.isInteger(step)) return `int() step must be an integer, got ${step}`;
    return { kind: "int", low, high, log, step: step ?? 1 };
  }
  return { kind: "float", low, high, log, step: step ?? null };
}

function splitArgs(s: string): string[] {
  // Commas separate arguments except inside quotes or brackets.
  const out: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let cur = "";
  for (const ch of s) {
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "[" || ch === "{" || ch === "(") depth++;
    else if (ch === "]" || ch === "}" || ch === ")") depth--;
    else if (ch === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
      continue;
    }
    cur += ch;
  }
  out.push(cur.trim());
  return out;
}

function dedupe(values: Value[]): Value[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const k = JSON.stringify(v);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Extreme and typical values of a distribution: what the config must accept. */
function probeValues(d: Dist): Value[] {
  if (d.kind === "categorical") return d.choices;
  return [d.low, d.high];
}

/** The space of a loaded config's `tune` section, every problem reported at once. */
export function parseSpace(loaded: LoadedConfig): Space {
  const tune = loaded.config.tune;
  const file = loaded.file ?? "command line";
  if (!tune)
    throw new HoneError("config", "the config has no tune section", [
      { file, message: "hone tune needs tune.space", hint: 'add e.g. tune: { space: { train.lr: "loguniform(1e-5, 1e-3)" } }' },
    ]);
  const issues: Issue[] = [];
  const at = (name: string, message: string, hint?: string, sub: string[] = []) => {
    const path = ["tune", "space", name, ...sub];
    issues.push({ file, line: loaded.lineOf(path), path, message, hint });
  };
  const params: Param[] = [];
  const defaults = UserConfig.parse({ data: { train: "x" } }) as unknown as Record<string, unknown>;
  for (const [name, spec] of Object.entries(tune.space)) {
    const keys = name.split(".");
    if (keys[0] === "tune" || keys[0] === "$schema") {
      at(name, `"${name}" cannot be searched`, "search fields of model, data, hierarchy or train");
      continue;
    }
    // The path must name a field of the config (a leaf, or an object set as a whole).
    let node: unknown = defaults;
    let bad = -1;
    for (let i = 0; i < keys.length; i++) {
      if (node === null || typeof node !== "object" || Array.isArray(node) || !(keys[i]! in (node as object))) {
        bad = i;
        break;
      }
      node = (node as Record<string, unknown>)[keys[i]!];
    }
    if (bad >= 0) {
      const known = knownKeys(keys.slice(0, bad));
      const near = closest(keys[bad]!, known);
      at(
        name,
        `unknown config path "${name}"`,
        near
          ? `did you mean "${[...keys.slice(0, bad), near].join(".")}"?`
          : known.length
            ? `fields at ${keys.slice(0, bad).join(".") || "the top level"}: ${known.join(", ")}`
            : undefined,
      );
      continue;
    }
    const raw = typeof spec === "object" && spec !== null && !Array.isArray(spec) ? spec : { dist: spec, when: undefined };
    const dist = parseDist(raw.dist as string | Value[]);
    if (typeof dist === "string") {
      at(name, dist);
      continue;
    }
    let when: Param["when"] = null;
    if (raw.when) {
      const entries = Object.entries(raw.when);
      if (entries.length !== 1) {
        at(name, "when: names exactly one parameter", "e.g. when: { train.scheduler: [cosine] }", ["when"]);
        continue;
      }
      const [param, values] = entries[0]!;
      when = { param, values: Array.isArray(values) ? values : [values] };
    }
    // Every value the sampler may propose must be one the config accepts.
    for (const v of probeValues(dist)) {
      const probe = structuredClone(defaults) as Record<string, unknown>;
      setPath(probe, keys, v);
      const r = UserConfig.safeParse(probe);
      const problem = r.success
        ? null
        : r.error.issues.find((i) => i.path.join(".") === name || name.startsWith(i.path.join(".")) || i.path.join(".").startsWith(name));
      if (problem) {
        at(
          name,
          `${JSON.stringify(v)} is not a valid ${name}: ${problem.message}`,
          dist.kind === "categorical" ? "remove it from the choices" : "narrow the range",
        );
        break;
      }
    }
    params.push({ name, dist, when });
  }
  // Conditions refer to categorical parameters of the space, with values they can take.
  const byName = new Map(params.map((p) => [p.name, p]));
  for (const p of params) {
    if (!p.when) continue;
    const parent = byName.get(p.when.param);
    if (!parent) {
      const near = closest(p.when.param, [...byName.keys()]);
      at(
        p.name,
        `when: "${p.when.param}" is not a parameter of the search space`,
        near ? `did you mean "${near}"?` : "conditions refer to other searched parameters",
        ["when"],
      );
    } else if (parent.dist.kind !== "categorical") {
      at(p.name, `when: "${p.when.param}" must be a choice to condition on`, "make it choice(...)", ["when"]);
    } else {
      const missing = p.when.values.filter((v) => !(parent.dist as { choices: Value[] }).choices.some((c) => c === v));
      if (missing.length)
        at(
          p.name,
          `when: ${missing.map((v) => JSON.stringify(v)).join(", ")} is not a choice of ${p.when.param}`,
          `choices: ${(parent.dist as { choices: Value[] }).choices.map((v) => JSON.stringify(v)).join(", ")}`,
          ["when"],
        );
    }
  }
  if (issues.length) throw new HoneError("config", `invalid search space${loaded.file ? ` in ${loaded.file}` : ""}`, issues);
  return { params: orderByDependency(params) };
}

function orderByDependency(params: Param[]): Param[] {
  const out: Param[] = [];
  const placed = new Set<string>();
  const visit = (p: Param, seen: Set<string>) => {
    if (placed.has(p.name)) return;
    if (seen.has(p.name)) throw new HoneError("config", `conditions of the search space form a cycle through ${p.name}`);
    seen.add(p.name);
    const parent = p.when ? params.find((q) => q.name === p.when!.param) : undefined;
    if (parent) visit(parent, seen);
    placed.add(p.name);
    out.push(p);
  };
  for (const p of params) visit(p, new Set());
  return out;
}

/** Whether a parameter is active given the values decided so far (parents come first). */
export function isActive(p: Param, values: Assignment): boolean {
  if (!p.when) return true;
  if (!(p.when.param in values)) return false;
  return p.when.values.some((v) => v === values[p.when!.param]);
}

// ---- unit-interval encoding: samplers propose u in [0, 1] per numeric parameter ----

/** Value -> u in [0, 1] (log scale for log ranges; an int owns the cell [v - 0.5, v + 0.5]). */
export function toUnit(d: Exclude<Dist, { kind: "categorical" }>, v: number): number {
  const [lo, hi] = bounds(d);
  const x = d.log ? Math.log(v) : v;
  return hi === lo ? 0.5 : Math.min(1, Math.max(0, (x - lo) / (hi - lo)));
}

/** u in [0, 1] -> a valid value: rounded to the step or integer grid, inside [low, high]. */
export function fromUnit(d: Exclude<Dist, { kind: "categorical" }>, u: number): number {
  const [lo, hi] = bounds(d);
  let x = lo + Math.min(1, Math.max(0, u)) * (hi - lo);
  if (d.log) x = Math.exp(x);
  if (d.kind === "int") x = d.low + Math.round((x - d.low) / d.step) * d.step;
  else if (d.step !== null) x = d.low + Math.round((x - d.low) / d.step) * d.step;
  x = Math.min(d.high, Math.max(d.low, x));
  // Float noise from exp/log must not turn 1e-3 into 0.0010000000000000002.
  return d.kind === "int" ? Math.round(x) : Number(x.toPrecision(12));
}

function bounds(d: Exclude<Dist, { kind: "categorical" }>): [number, number] {
  const pad = d.kind === "int" ? d.step / 2 : 0;
  if (d.log) return [Math.log(Math.max(d.low - pad, d.low / 2)), Math.log(d.high + pad)];
  return [d.low - pad, d.high + pad];
}

/** Every assignment of a grid: choices and int values in full, floats at `points` levels. */
export function gridOf(space: Space, points: number): Assignment[] {
  const axes = space.params.map((p): Value[] => {
    const d = p.dist;
    if (d.kind === "categorical") return d.choices;
    if (d.kind === "int") {
      const values: number[] = [];
      for (let v = d.low; v <= d.high; v += d.step) values.push(v);
      if (values.length <= Math.max(points, 16)) return values;
    }
    if (d.kind === "float" && d.step !== null && Math.floor((d.high - d.low) / d.step) + 1 <= Math.max(points, 16)) {
      const values: number[] = [];
      for (let i = 0; d.low + i * d.step <= d.high + 1e-12; i++) values.push(Number((d.low + i * d.step).toPrecision(12)));
      return values;
    }
    return [...new Set(Array.from({ length: points }, (_, i) => fromUnit(d, points === 1 ? 0.5 : i / (points - 1))))];
  });
  const out: Assignment[] = [];
  const seen = new Set<string>();
  const rec = (i: number, acc: Assignment) => {
    if (i === axes.length) {
      const key = JSON.stringify(acc);
      if (!seen.has(key)) {
        seen.add(key);
        out.push({ ...acc });
      }
      return;
    }
    const p = space.params[i]!;
    if (!isActive(p, acc)) return rec(i + 1, acc);
    for (const v of axes[i]!) {
      acc[p.name] = v;
      rec(i + 1, acc);
    }
    delete acc[p.name];
  };
  rec(0, {});
  return out;
}

/** The study's objectives: metric names and directions, resolved. */
export interface Objective {
  metric: string;
  direction: "maximize" | "minimize";
}

const MINIMIZED = new Set(["loss", "train_seconds", "model_mb"]);

export function objectivesOf(tune: TuneConfig, earlyStoppingMetric: string): Objective[] {
  const metrics = (Array.isArray(tune.metric) ? tune.metric : [tune.metric]).map((m) => (m === "auto" ? earlyStoppingMetric : m));
  const dirs = Array.isArray(tune.direction) ? tune.direction : metrics.map(() => tune.direction as "auto" | "maximize" | "minimize");
  if (dirs.length !== metrics.length)
    throw new HoneError("config", "tune.direction needs one direction per metric", [
      { path: ["tune", "direction"], message: `${metrics.length} metric(s), ${dirs.length} direction(s)` },
    ]);
  return metrics.map((metric, i) => ({ metric, direction: dirs[i] === "auto" ? (MINIMIZED.has(metric) ? "minimize" : "maximize") : dirs[i]! }));
}
