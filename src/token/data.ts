// A token task's data from the resolved config: the three splits read and checked (held-out
// splits cut from train when absent), the model they imply, and what is worth a warning.
import type { ResolvedConfig, ResolvedSource } from "../config/resolve.js";
import { splitExamples } from "../data/split.js";
import { readTokenSource, type TokenExample, type TokenSource } from "./formats.js";
import type { TokenModel } from "./model.js";
import { detectScheme, invalidTransitions, type Scheme, tagSet } from "./tags.js";

export function tokenSource(cfg: ResolvedConfig, src: ResolvedSource, requireLabels = true): TokenSource {
  const t = cfg.token!;
  return {
    path: src.path,
    format: src.format,
    pointer: src.pointer,
    fields: { tokens: t.fields.tokens, tags: t.fields.tags, spans: t.fields.spans, text: src.text, intent: src.label },
    requireLabels,
  };
}

/** The splits of a token task's data, read and checked; held-out splits cut from train if absent. */
export function loadTokenData(cfg: ResolvedConfig): { train: TokenExample[]; validation: TokenExample[]; test: TokenExample[] } {
  const train = readTokenSource(tokenSource(cfg, cfg.data.train!)); // required for this task (resolve.ts)
  const validation = cfg.data.validation ? readTokenSource(tokenSource(cfg, cfg.data.validation)) : null;
  const test = cfg.data.test ? readTokenSource(tokenSource(cfg, cfg.data.test)) : null;
  if (validation && test) return { train, validation, test };
  const s = cfg.data.split;
  const keyed = train.map((e) => ({ e, labels: e.intent === null ? [] : [e.intent] }));
  const cut = splitExamples(keyed, { validation: validation ? 0 : s.validation, test: test ? 0 : s.test }, s.seed, s.stratify);
  return { train: cut.train.map((k) => k.e), validation: validation ?? cut.validation.map((k) => k.e), test: test ?? cut.test.map((k) => k.e) };
}

/** The model a run trains: scheme and tags from the training data, intents when it has them. */
export function planModel(cfg: ResolvedConfig, train: TokenExample[]): TokenModel {
  const dataScheme: Scheme = train.some((e) => e.tags) ? detectScheme(train.flatMap((e) => e.tags ?? [])) : "bio";
  const scheme = cfg.token!.scheme === "auto" ? dataScheme : cfg.token!.scheme;
  const types = [...new Set(train.flatMap((e) => e.entities.map((x) => x.type)))];
  const intents = train[0]!.intent === null ? null : [...new Set(train.map((e) => e.intent!))].sort();
  return { version: 1, scheme, tags: tagSet(types, scheme), intents, decode: cfg.token!.decode, max_length: cfg.data.max_length };
}

export function dataWarnings(m: TokenModel, splits: Record<string, TokenExample[]>): string[] {
  const w: string[] = [];
  for (const [split, examples] of Object.entries(splits)) {
    const bad = examples.flatMap((e) => (e.tags ? invalidTransitions(e.tags, detectScheme(e.tags)).map((t) => ({ e, t })) : []));
    if (bad.length > 0)
      w.push(
        `${bad.length} invalid tag transition(s) in ${split} (e.g. ${bad[0]!.e.origin}: ${bad[0]!.t.message}); read as conlleval reads them, an I- after O starting an entity`,
      );
    const known = new Set(m.tags);
    const unseen = new Set(examples.flatMap((e) => e.entities.map((x) => x.type)).filter((t) => !known.has(`I-${t}`)));
    if (split !== "train" && unseen.size > 0) w.push(`entity type(s) ${[...unseen].join(", ")} of ${split} never occur in train: the model cannot find them`);
    if (m.intents && split !== "train") {
      const missing = new Set(examples.map((e) => e.intent!).filter((i) => !m.intents!.includes(i)));
      if (missing.size > 0) w.push(`intent(s) ${[...missing].join(", ")} of ${split} never occur in train`);
    }
  }
  return w;
}
