// Generative training data: chat (OpenAI `messages`), prompt/completion, plain text, and
// preference pairs (prompt/chosen/rejected, or OpenAI's preference format), unpaired good / bad
// answers (prompt/completion/label, for KTO). Every row is
// checked with its file, line and field; every problem is reported at once.
import { type Collector, field, readRows, rowKeys, type RowSource } from "../data/load.js";
import type { Issue } from "../util/errors.js";
import { HoneError } from "../util/errors.js";
import { closest } from "../util/text.js";
import type { Message } from "./chat-template.js";

export type LmFormat = "chat" | "prompt_completion" | "text" | "preference" | "unpaired";

/** A prompt or an answer: plain text, or messages (conversational data). */
export type Turns = string | Message[];

export type LmExample =
  | { format: "chat"; messages: Message[]; origin: string }
  | { format: "prompt_completion"; prompt: Turns; completion: Turns; origin: string }
  | { format: "text"; text: string; origin: string }
  | { format: "preference"; prompt: Turns; chosen: Turns; rejected: Turns; origin: string }
  /** A good (label true) or bad answer on its own; `partner`: another example's answer to the same
   * prompt, KTO's reference point (set by the preference task, null when read). */
  | { format: "unpaired"; prompt: Turns; completion: Turns; label: boolean; partner: Turns | null; origin: string };

export const ROLES = ["system", "user", "assistant", "tool", "developer"] as const;

type Where = Omit<Issue, "message">;

/** Which format a row is in, by its fields. */
export function detectRowFormat(row: unknown, textField: string): LmFormat | null {
  const has = (k: string) => field(row, k) !== undefined;
  if (has("messages")) return "chat";
  if ((has("chosen") && has("rejected")) || has("preferred_output")) return "preference";
  if (has("completion") && has("label")) return "unpaired";
  if (has("prompt") && has("completion")) return "prompt_completion";
  if (has(textField)) return "text";
  return null;
}

function messagesAt(value: unknown, path: (string | number)[], where: Where, out: Collector): Message[] | null {
  if (!Array.isArray(value) || value.length === 0) {
    out.add({
      ...where,
      path,
      message: Array.isArray(value) ? "no messages" : `expected a list of messages, got ${value === null ? "null" : typeof value}`,
      hint: 'e.g. [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]',
    });
    return null;
  }
  const messages: Message[] = [];
  let ok = true;
  value.forEach((m, i) => {
    const at = [...path, i];
    if (m === null || typeof m !== "object" || Array.isArray(m)) {
      out.add({ ...where, path: at, message: "a message must be an object with role and content" });
      ok = false;
      return;
    }
    const role = (m as Record<string, unknown>).role;
    const content = (m as Record<string, unknown>).content;
    if (role === undefined) {
      out.add({ ...where, path: [...at, "role"], message: "missing role", hint: `one of: ${ROLES.join(", ")}` });
      ok = false;
    } else if (typeof role !== "string" || !(ROLES as readonly string[]).includes(role)) {
      const near = typeof role === "string" ? closest(role, [...ROLES]) : null;
      out.add({
        ...where,
        path: [...at, "role"],
        message: `unknown role ${JSON.stringify(role)}`,
        hint: near ? `did you mean "${near}"?` : `one of: ${ROLES.join(", ")}`,
      });
      ok = false;
    }
    if (typeof content !== "string") {
      const parts =
        Array.isArray(content) &&
        content.every((p) => p && typeof p === "object" && (p as { type?: unknown }).type === "text" && typeof (p as { text?: unknown }).text === "string");
      if (parts) {
        // OpenAI content parts: text parts only (Hone trains text models).
        messages.push({ role: String(role), content: (content as { text: string }[]).map((p) => p.text).join("") });
        return;
      }
      out.add({
        ...where,
        path: [...at, "content"],
        message: content === undefined ? "missing content" : `content must be a string, got ${content === null ? "null" : typeof content}`,
        hint: "text content only (tool calls and images are not supported yet)",
      });
      ok = false;
      return;
    }
    messages.push({ role: String(role), content });
  });
  return ok ? messages : null;
}

function turnsAt(row: unknown, key: string, where: Where, out: Collector, answer: boolean): Turns | null {
  const v = field(row, key);
  if (typeof v === "string") {
    if (v.trim() === "" && answer) {
      out.add({ ...where, path: [key], message: "empty text", hint: "an answer must have text to learn from" });
      return null;
    }
    return v;
  }
  if (Array.isArray(v)) return messagesAt(v, [key], where, out);
  out.add({
    ...where,
    path: [key],
    message: v === undefined ? `missing field "${key}"` : `"${key}" must be text or a list of messages, got ${v === null ? "null" : typeof v}`,
  });
  return null;
}

function hasAssistant(turns: Turns): boolean {
  return typeof turns === "string" || turns.some((m) => m.role === "assistant");
}

export interface LmSourceSpec extends RowSource {
  /** The data format the task needs, or "auto" (by the rows' fields; every row must agree). */
  dataFormat: "auto" | LmFormat;
  /** The text field of plain-text rows. */
  text: string;
  /** Chat rows must hold an assistant turn (there is nothing to learn from otherwise). */
  requireAssistant: boolean;
}

/** Read and check one file of generative data. */
export function readLmSource(spec: LmSourceSpec): LmExample[] {
  let fileFormat: LmFormat | null = spec.dataFormat === "auto" ? null : spec.dataFormat;
  let firstOrigin = "";
  return readRows(spec, (row, where, origin, out) => {
    if (row === null || typeof row !== "object" || Array.isArray(row)) {
      out.add({ ...where, message: "row is not an object", hint: 'expected e.g. {"messages": [...]}' });
      return null;
    }
    const detected = detectRowFormat(row, spec.text);
    if (detected === null) {
      out.add({
        ...where,
        message: "cannot tell what this row is",
        hint: `expected "messages" (chat), "prompt" + "completion", "prompt" + "chosen" + "rejected" (preference), "prompt" + "completion" + "label" (unpaired) or "${spec.text}" (plain text); the row has: ${rowKeys(row).join(", ") || "no fields"}`,
      });
      return null;
    }
    if (fileFormat === null) {
      fileFormat = detected;
      firstOrigin = origin;
    } else if (detected !== fileFormat) {
      out.add({
        ...where,
        message: `a ${detected.replace("_", "/")} row in ${spec.dataFormat === "auto" ? `a file of ${fileFormat.replace("_", "/")} rows (from ${firstOrigin})` : `${fileFormat.replace("_", "/")} data`}`,
        hint: spec.dataFormat === "auto" ? "one format per file" : `data.format is ${spec.dataFormat}`,
      });
      return null;
    }
    return toLmExample(row, fileFormat, spec, where, origin, out);
  });
}

function toLmExample(row: object, format: LmFormat, spec: LmSourceSpec, where: Where, origin: string, out: Collector): LmExample | null {
  if (format === "chat") {
    const messages = messagesAt(field(row, "messages"), ["messages"], where, out);
    if (!messages) return null;
    if (spec.requireAssistant && !messages.some((m) => m.role === "assistant")) {
      out.add({ ...where, path: ["messages"], message: "no assistant turn", hint: "a conversation needs at least one assistant message to learn from" });
      return null;
    }
    return { format, messages, origin };
  }
  if (format === "text") {
    const text = field(row, spec.text);
    if (typeof text !== "string" || text.trim() === "") {
      out.add({
        ...where,
        path: [spec.text],
        message: typeof text === "string" ? "empty text" : `text must be a string, got ${text === null ? "null" : typeof text}`,
      });
      return null;
    }
    return { format, text, origin };
  }
  if (format === "prompt_completion" || format === "unpaired") {
    const prompt = turnsAt(row, "prompt", where, out, false);
    const completion = turnsAt(row, "completion", where, out, true);
    if (prompt === null || completion === null) return null;
    if (typeof prompt !== typeof completion) {
      out.add({ ...where, path: ["completion"], message: "prompt and completion must both be text or both be messages" });
      return null;
    }
    if (!hasAssistant(completion)) {
      out.add({
        ...where,
        path: ["completion"],
        message: "no assistant turn in the completion",
        hint: 'e.g. "completion": [{"role": "assistant", "content": "..."}]',
      });
      return null;
    }
    if (format === "prompt_completion") return { format, prompt, completion, origin };
    const label = field(row, "label");
    if (typeof label !== "boolean") {
      out.add({
        ...where,
        path: ["label"],
        message: `label must be true (a good answer) or false (a bad one), got ${JSON.stringify(label)}`,
        hint: 'e.g. {"prompt": "...", "completion": "...", "label": true}',
      });
      return null;
    }
    return { format, prompt, completion, label, partner: null, origin };
  }
  // Preference: {prompt, chosen, rejected}, or OpenAI's {input: {messages}, preferred_output, non_preferred_output}.
  const openai = field(row, "preferred_output") !== undefined;
  let prompt: Turns | null;
  if (openai) {
    const input = field(row, "input");
    prompt = messagesAt(field(input, "messages"), ["input", "messages"], where, out);
  } else prompt = field(row, "prompt") === undefined ? "" : turnsAt(row, "prompt", where, out, false);
  const chosen = turnsAt(row, openai ? "preferred_output" : "chosen", where, out, true);
  const rejected = turnsAt(row, openai ? "non_preferred_output" : "rejected", where, out, true);
  if (prompt === null || chosen === null || rejected === null) return null;
  if (typeof chosen !== typeof rejected || (typeof prompt !== "string" && typeof chosen === "string" && prompt.length > 0)) {
    out.add({ ...where, path: [openai ? "non_preferred_output" : "rejected"], message: "prompt, chosen and rejected must all be text or all be messages" });
    return null;
  }
  for (const [key, t] of [
    [openai ? "preferred_output" : "chosen", chosen],
    [openai ? "non_preferred_output" : "rejected", rejected],
  ] as const) {
    if (!hasAssistant(t)) {
      out.add({ ...where, path: [key], message: "no assistant turn", hint: 'e.g. [{"role": "assistant", "content": "..."}]' });
      return null;
    }
  }
  if (JSON.stringify(chosen) === JSON.stringify(rejected)) {
    out.add({
      ...where,
      path: [openai ? "non_preferred_output" : "rejected"],
      message: "chosen and rejected are the same",
      hint: "a preference pair needs two different answers",
    });
    return null;
  }
  return { format, prompt, chosen, rejected, origin };
}

/** The format every file must share (train, validation, test of one run). */
export function commonFormat(files: { examples: LmExample[]; shown: string }[]): LmFormat {
  const first = files[0]!.examples[0]!.format;
  for (const f of files) {
    const other = f.examples.find((e) => e.format !== first);
    if (other) {
      throw new HoneError("data", "the data files hold different formats", [
        { file: other.origin, message: `a ${other.format} row, but ${files[0]!.shown} holds ${first} rows`, hint: "give every split in one format" },
      ]);
    }
  }
  return first;
}

/** A conversation as a (prompt, reference answer) pair for generation: the last assistant turn is the answer. */
export function promptAndAnswer(e: LmExample): { prompt: Turns; answer: string } | null {
  if (e.format === "chat") {
    const last = e.messages.map((m) => m.role).lastIndexOf("assistant");
    if (last <= 0) return null;
    return { prompt: e.messages.slice(0, last), answer: e.messages[last]!.content };
  }
  if (e.format === "prompt_completion") {
    if (typeof e.completion === "string") return { prompt: e.prompt, answer: e.completion };
    const answer = e.completion.find((m) => m.role === "assistant")!.content;
    return { prompt: [...(e.prompt as Message[])], answer };
  }
  if (e.format === "unpaired") {
    if (!e.label) return null; // a bad answer is no reference to generate towards
    return promptAndAnswer({ format: "prompt_completion", prompt: e.prompt, completion: e.completion, origin: e.origin });
  }
  if (e.format === "preference") {
    const answer = typeof e.chosen === "string" ? e.chosen : e.chosen.find((m) => m.role === "assistant")!.content;
    return { prompt: e.prompt, answer };
  }
  return null;
}

/** A prompt to answer (online RL): text or messages, with the rest of its row (an answer to check
 * against, metadata) kept for the reward. */
export interface PromptRow {
  prompt: Turns;
  fields: Record<string, unknown>;
  origin: string;
}

/** Read and check a file of prompts: rows with a "prompt" (text or messages); other fields are kept. */
export function readPromptSource(spec: RowSource): PromptRow[] {
  return readRows(spec, (row, where, origin, out) => {
    if (row === null || typeof row !== "object" || Array.isArray(row)) {
      out.add({ ...where, message: "row is not an object", hint: 'expected e.g. {"prompt": [{"role": "user", "content": "..."}], "answer": "..."}' });
      return null;
    }
    if (field(row, "prompt") === undefined) {
      out.add({
        ...where,
        path: ["prompt"],
        message: `missing field "prompt"; the row has: ${rowKeys(row).join(", ") || "no fields"}`,
        hint: 'e.g. {"prompt": "2 + 3 =", "answer": "5"} or {"prompt": [{"role": "user", "content": "..."}]}',
      });
      return null;
    }
    const prompt = turnsAt(row, "prompt", where, out, false);
    if (prompt === null) return null;
    if (typeof prompt === "string" ? prompt.trim() === "" : prompt.at(-1)!.role === "assistant") {
      out.add({
        ...where,
        path: ["prompt"],
        message: typeof prompt === "string" ? "empty prompt" : "the prompt ends with an assistant turn",
        hint: "the model answers the prompt: end it with the user's turn",
      });
      return null;
    }
    const { prompt: _p, ...fields } = row as Record<string, unknown>;
    return { prompt, fields, origin };
  });
}
