// Chat templates rendered in TypeScript (Hugging Face's own Jinja implementation for chat
// templates), from the model's tokenizer_config.json / chat_template.jinja, so that training,
// `hone generate` and the server build prompts with one piece of code.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import { HoneError } from "../util/errors.js";
import { resolvePath } from "../config/load.js";

export interface Message {
  role: string;
  content: string;
}

/** Templates a user can name instead of giving a file (data.chat_template: chatml). */
export const BUILTIN_TEMPLATES: Record<string, string> = {
  chatml:
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
};

export interface SpecialTokens {
  bos: string | null;
  eos: string | null;
  pad: string | null;
  unk: string | null;
}

export interface TemplateSource {
  text: string;
  /** Where it came from, for messages: a file, "builtin:chatml" or "config". */
  origin: string;
}

/** An AddedToken in tokenizer_config.json is a string or {"content": ...}. */
function tokenText(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") return (v as { content: string }).content;
  return null;
}

export function readSpecialTokens(modelDir: string): SpecialTokens {
  const file = join(modelDir, "tokenizer_config.json");
  const cfg = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>) : {};
  return { bos: tokenText(cfg.bos_token), eos: tokenText(cfg.eos_token), pad: tokenText(cfg.pad_token), unk: tokenText(cfg.unk_token) };
}

/** The model's own template (chat_template.jinja beside the tokenizer, else tokenizer_config.json),
 * or null when it has none. */
export function modelTemplate(modelDir: string): TemplateSource | null {
  const jinja = join(modelDir, "chat_template.jinja");
  if (existsSync(jinja)) return { text: readFileSync(jinja, "utf8"), origin: jinja };
  const file = join(modelDir, "tokenizer_config.json");
  if (!existsSync(file)) return null;
  const t = (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>).chat_template;
  if (typeof t === "string") return { text: t, origin: file };
  // Several named templates: the "default" one is the chat template.
  if (Array.isArray(t)) {
    const d = t.find((x) => x && typeof x === "object" && (x as { name?: unknown }).name === "default") as { template?: unknown } | undefined;
    if (d && typeof d.template === "string") return { text: d.template, origin: `${file} (default)` };
  }
  return null;
}

/** data.chat_template: a built-in name, a .jinja file (relative to the config) or template text. */
export function templateFromConfig(value: string, baseDir: string): TemplateSource {
  if (BUILTIN_TEMPLATES[value]) return { text: BUILTIN_TEMPLATES[value]!, origin: `builtin:${value}` };
  if (!value.includes("{")) {
    const path = resolvePath(baseDir, value);
    if (!existsSync(path)) {
      throw new HoneError("config", "chat template not found", [
        {
          path: ["data", "chat_template"],
          message: `no such file: ${path}`,
          hint: `give a .jinja file, template text, or one of: ${Object.keys(BUILTIN_TEMPLATES).join(", ")}`,
        },
      ]);
    }
    return { text: readFileSync(path, "utf8"), origin: path };
  }
  return { text: value, origin: "config" };
}

/** A rendered conversation and the character spans [start, end) that carry the loss. */
export interface RenderedChat {
  text: string;
  spans: [number, number][];
  /** Assistant turns whose loss could not be located (a template that rewrites earlier turns). */
  skippedTurns: number;
  /** The messages' contents in the text (see contentSpans). */
  content: [number, number][];
}

export class ChatTemplate {
  private readonly template: Template;
  constructor(
    readonly source: TemplateSource,
    private readonly specials: SpecialTokens,
  ) {
    try {
      this.template = new Template(source.text);
    } catch (e) {
      throw new HoneError("model", "the chat template does not parse", [
        { file: source.origin, message: (e as Error).message, hint: "fix the template, or set data.chat_template" },
      ]);
    }
  }

  /** Throws the template's own error (raise_exception("roles must alternate")) as an Error. */
  render(messages: Message[], addGenerationPrompt: boolean): string {
    return this.template.render({
      messages,
      add_generation_prompt: addGenerationPrompt,
      bos_token: this.specials.bos ?? "",
      eos_token: this.specials.eos ?? "",
      pad_token: this.specials.pad ?? "",
      unk_token: this.specials.unk ?? "",
      // raise_exception("...") is built in: its message reaches the user with the row's place.
    });
  }

  /**
   * The whole conversation, and where each assistant turn's tokens are in it. A turn's span runs
   * from the end of the prompt that asks for it (the conversation before it with the generation
   * prompt) to the end of its end-of-turn token: the model learns to answer and to stop.
   * `lossOn: "last"` keeps only the final assistant turn (preference data).
   */
  /** Where each message's content sits in a rendered conversation (UTF-16 [start, end)), found in
   * order: what the tokenizer must read as text, never as special tokens. */
  contentSpans(messages: Message[], text: string): [number, number][] {
    const spans: [number, number][] = [];
    let pos = 0;
    for (const m of messages) {
      if (m.content.length === 0) continue;
      const at = text.indexOf(m.content, pos);
      if (at < 0) continue;
      spans.push([at, at + m.content.length]);
      pos = at + m.content.length;
    }
    return spans;
  }

  renderWithSpans(messages: Message[], lossOn: "assistant" | "last" = "assistant"): RenderedChat {
    const text = this.render(messages, false);
    const spans: [number, number][] = [];
    let skipped = 0;
    const last = messages.map((m) => m.role).lastIndexOf("assistant");
    messages.forEach((m, i) => {
      if (m.role !== "assistant" || (lossOn === "last" && i !== last)) return;
      const prompt = this.render(messages.slice(0, i), true);
      const upTo = this.render(messages.slice(0, i + 1), false);
      if (!upTo.startsWith(prompt) || !text.startsWith(upTo)) {
        if (i === last) throw new Error("the chat template does not render this conversation turn by turn, so its assistant tokens cannot be located");
        skipped++;
        return;
      }
      let end = upTo.length;
      const eos = this.specials.eos;
      const contentEnd = upTo.lastIndexOf(m.content) >= prompt.length ? upTo.lastIndexOf(m.content) + m.content.length : prompt.length;
      if (eos) {
        const at = upTo.indexOf(eos, contentEnd);
        if (at !== -1) end = at + eos.length;
      }
      spans.push([prompt.length, end]);
    });
    return { text, spans, skippedTurns: skipped, content: this.contentSpans(messages, text) };
  }
}
