// What the writer is asked (one prompt per wanted example, in a fixed order so that an interrupted
// generation resumes with the same prompts) and what is read back from its answers.
import type { ResolvedAugment } from "../config/resolved.js";
import type { Example } from "../data/load.js";
import { rng } from "../data/split.js";

export interface AugmentPrompt {
  /** paraphrase: a rewrite of one training example; new: a new example of a label. */
  kind: "paraphrase" | "new";
  /** The labels the generated example gets. */
  labels: string[];
  /** The training example rewritten (its origin, file:line), or null. */
  of: string | null;
  prompt: string;
}

/** A label's name or description for the prompt (hierarchies: the leaf's). */
export type Describe = (label: string) => string;

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(label|description|text|examples)\}/g, (_, k: string) => values[k] ?? "");
}

/** A text as one line of a list: the model continues the list, so a newline would end it early. */
const oneLine = (t: string) => t.replace(/\s+/g, " ").trim();

/** Every prompt of an augmentation: `paraphrases` per training example (in data order), then
 * `per_label` per label (sorted), each of the latter showing its own draw of the label's examples. */
export function augmentPrompts(train: Example[], labels: string[], a: ResolvedAugment, describe: Describe, name: Describe): AugmentPrompt[] {
  const out: AugmentPrompt[] = [];
  for (const e of train) {
    const values = { label: name(e.labels[0]!), description: describe(e.labels[0]!), text: oneLine(e.text), examples: "" };
    for (let k = 0; k < a.paraphrases; k++) out.push({ kind: "paraphrase", labels: e.labels, of: e.origin, prompt: fill(a.prompts.paraphrase, values) });
  }
  const byLabel = new Map<string, string[]>();
  for (const e of train) for (const l of e.labels) byLabel.set(l, [...(byLabel.get(l) ?? []), oneLine(e.text)]);
  const draw = rng(a.seed);
  for (const label of labels) {
    const own = byLabel.get(label) ?? [];
    for (let k = 0; k < a.per_label; k++) {
      // A shuffled draw per prompt: the lists differ, and so do the continuations.
      const shown = [...own];
      for (let i = shown.length - 1; i > 0; i--) {
        const j = Math.floor(draw() * (i + 1));
        [shown[i], shown[j]] = [shown[j]!, shown[i]!];
      }
      const examples = shown
        .slice(0, a.examples_in_prompt)
        .map((t) => `- ${t}\n`)
        .join("");
      out.push({
        kind: "new",
        labels: [label],
        of: null,
        prompt: fill(a.prompts.new, { label: name(label), description: describe(label), text: "", examples }),
      });
    }
  }
  return out;
}

/** The example in a generation: its first non-empty line, without list marks or quotes; null
 * when nothing usable is left (empty, or longer than `maxChars`). */
export function readGenerated(generation: string, maxChars: number): string | null {
  // Control characters go; a replacement character means the writer broke a character apart.
  const line = generation
    .replace(/[\p{Cc}\p{Cf}]/gu, (ch) => (ch === "\n" ? ch : ""))
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l !== "");
  if (!line) return null;
  const text = line
    .replace(/^(?:[-*•]|\d+[.)])\s*/u, "")
    .replace(/^["'“”‘’«»]+|["'“”‘’«»]+$/gu, "")
    .trim();
  if (text === "" || text.includes("\uFFFD") || Array.from(text).length > maxChars) return null;
  return text;
}
