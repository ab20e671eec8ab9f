// Token task metrics and the data doctor's report on token data, for people and as JSON.
import type { ResolvedConfig } from "../config/resolve.js";
import { lengthStats, type LengthStats } from "../data/inspect.js";
import { num, pct, table } from "../util/table.js";
import { WordAligner } from "./align.js";
import type { TokenExample } from "./formats.js";
import type { TokenMetrics } from "./metrics.js";
import { loadTokenData, planModel } from "./data.js";
import { detectScheme, invalidTransitions } from "./tags.js";

export function renderTokenMetrics(m: TokenMetrics, perClass = false): string {
  const rows: (string | number)[][] = [
    ["entity F1 (exact span and type, micro)", pct(m.f1)],
    ["entity precision / recall", `${pct(m.precision)} / ${pct(m.recall)}`],
    ["entity macro F1 (mean over types)", pct(m.macro_f1)],
    ["tag accuracy (words)", pct(m.tag_accuracy)],
  ];
  if (m.intent_accuracy !== null) rows.push(["intent accuracy", pct(m.intent_accuracy)]);
  if (m.exact_match !== null)
    rows.push([m.intent_accuracy !== null ? "sentence exact match (intent and all entities)" : "sentence exact match (all entities)", pct(m.exact_match)]);
  if (m.loss !== null) rows.push(["loss", num(m.loss)]);
  rows.push(["sentences", m.count]);
  let text = table(["metric", "value"], rows, ["l", "r"]);
  if (perClass)
    text += `\n\n${table(
      ["entity type", "precision", "recall", "F1", "true", "predicted"],
      m.per_type.map((t) => [t.type, pct(t.precision), pct(t.recall), pct(t.f1), t.support, t.predicted]),
      ["l", "r", "r", "r", "r", "r"],
    )}`;
  return text;
}

export interface TokenInspectReport {
  splits: Record<string, { sentences: number; words: number; entities: number }>;
  scheme: { data: string; trained: string };
  entity_types: { type: string; train: number; validation: number; test: number }[];
  intents: { intent: string; train: number; validation: number; test: number }[] | null;
  invalid_transitions: { origin: string; message: string }[];
  words: Record<string, LengthStats>;
  pieces: Record<string, LengthStats>;
  max_length: number;
}

export async function inspectTokenData(cfg: ResolvedConfig): Promise<{ report: TokenInspectReport; text: string }> {
  const data = loadTokenData(cfg);
  const m = planModel(cfg, data.train);
  const splits = { train: data.train, validation: data.validation, test: data.test } as Record<string, TokenExample[]>;
  const count = <K extends string>(key: (e: TokenExample) => K[]) => {
    const out = new Map<K, Record<string, number>>();
    for (const [split, ex] of Object.entries(splits))
      for (const e of ex)
        for (const k of key(e)) {
          const c = out.get(k) ?? { train: 0, validation: 0, test: 0 };
          c[split]!++;
          out.set(k, c);
        }
    return [...out.entries()].sort(([a], [b]) => a.localeCompare(b));
  };
  const entityTypes = count((e) => e.entities.map((x) => x.type)).map(([type, c]) => ({ type, train: c.train!, validation: c.validation!, test: c.test! }));
  const intents = m.intents ? count((e) => [e.intent!]).map(([intent, c]) => ({ intent, train: c.train!, validation: c.validation!, test: c.test! })) : null;
  const invalid = Object.values(splits).flatMap((ex) =>
    ex.flatMap((e) => (e.tags ? invalidTransitions(e.tags, detectScheme(e.tags)).map((t) => ({ origin: e.origin, message: t.message })) : [])),
  );
  const aligner = new WordAligner(cfg.model.dir, 1_000_000);
  const words: Record<string, LengthStats> = {};
  const pieces: Record<string, LengthStats> = {};
  for (const [split, ex] of Object.entries(splits)) {
    if (ex.length === 0) continue;
    words[split] = lengthStats(
      ex.map((e) => e.words.length),
      Number.POSITIVE_INFINITY,
    );
    pieces[split] = lengthStats(
      (await aligner.align(ex)).map((a) => a.ids.length),
      cfg.data.max_length,
    );
  }
  const report: TokenInspectReport = {
    splits: Object.fromEntries(
      Object.entries(splits).map(([s, ex]) => [
        s,
        { sentences: ex.length, words: ex.reduce((n, e) => n + e.words.length, 0), entities: ex.reduce((n, e) => n + e.entities.length, 0) },
      ]),
    ),
    scheme: { data: data.train.some((e) => e.tags) ? detectScheme(data.train.flatMap((e) => e.tags ?? [])) : "spans", trained: m.scheme },
    entity_types: entityTypes,
    intents,
    invalid_transitions: invalid,
    words,
    pieces,
    max_length: cfg.data.max_length,
  };
  const parts = [
    table(
      ["split", "sentences", "words", "entities"],
      Object.entries(report.splits).map(([s, c]) => [s, c.sentences, c.words, c.entities]),
      ["l", "r", "r", "r"],
    ),
    `tag scheme: ${report.scheme.data} in the data, ${report.scheme.trained} learned`,
    table(
      ["entity type", "train", "validation", "test"],
      entityTypes.map((t) => [t.type, t.train, t.validation, t.test]),
      ["l", "r", "r", "r"],
    ),
  ];
  if (intents)
    parts.push(
      table(
        ["intent", "train", "validation", "test"],
        intents.map((t) => [t.intent, t.train, t.validation, t.test]),
        ["l", "r", "r", "r"],
      ),
    );
  parts.push(
    table(
      ["split", "words p50", "p95", "max", "pieces p50", "p95", "max", `over ${cfg.data.max_length}`],
      Object.keys(pieces).map((s) => [
        s,
        words[s]!.p50,
        words[s]!.p95,
        words[s]!.max,
        pieces[s]!.p50,
        pieces[s]!.p95,
        pieces[s]!.max,
        pct(pieces[s]!.truncated),
      ]),
      ["l", "r", "r", "r", "r", "r", "r", "r"],
    ),
  );
  if (invalid.length > 0)
    parts.push(
      `${invalid.length} invalid tag transition(s) (read as conlleval reads them: an I- after O starts an entity; fix: write B- at an entity's first word):\n${invalid
        .slice(0, 10)
        .map((i) => `  ${i.origin}: ${i.message}`)
        .join("\n")}`,
    );
  return { report, text: parts.join("\n\n") };
}
