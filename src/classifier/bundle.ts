// Classifier bundles in Node: the run's tokenizer, heads and tuned decoding read from the bundle
// once, then the same decoding as \`hone predict\` over the graph's logits.
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { decodeAll } from "../predict/predict.js";
import type { TokenShard } from "../protocol/schema.js";
import type { BundleDecoder, BundleGraph } from "../run/types.js";
import { loadTokenizer, type TextTokenizer } from "../tokenize/tokenizer.js";
import { readDecoding, type Decoding } from "./evaluate.js";
import { loadHeads, type HeadPlan } from "./heads.js";

const opened = new Map<string, { plan: HeadPlan; decoding: Decoding; tokenizer: TextTokenizer }>();

export function classifierBundleParts(graph: Pick<BundleGraph, "dir" | "manifest">) {
  let parts = opened.get(graph.dir);
  if (!parts) {
    const multi = (JSON.parse(readFileSync(join(graph.dir, "decoding.json"), "utf8")) as { multi_label?: boolean }).multi_label === true;
    parts = { plan: loadHeads(graph.dir, multi), decoding: readDecoding(graph.dir), tokenizer: loadTokenizer(graph.dir, graph.manifest.max_length) };
    opened.set(graph.dir, parts);
  }
  return parts;
}

export const classifierBundle: BundleDecoder = {
  files: ["heads.json", "decoding.json"],
  route: "/v1/classify",
  sample: (files) => {
    const f = files as { shards: Record<string, TokenShard | null> };
    return f.shards.test ?? f.shards.validation ?? f.shards.train ?? null;
  },
  answer: "one prediction per text: label (or path, per-level probabilities and a partial-path flag for hierarchies)",
  async predict(graph, texts, opts) {
    if (texts.length === 0) return [];
    const { plan, decoding, tokenizer } = classifierBundleParts(graph);
    return decodeAll(plan, await graph.logitsOfIds(await tokenizer.encode(texts)), decoding, opts.topK);
  },
};
