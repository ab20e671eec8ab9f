// Generative examples -> token ids and loss masks, with the model's own tokenizer (HF
// `tokenizers`, Rust) and chat template. The engine never sees text: it trains on ids where the
// mask says so.
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { type Encoding, Tokenizer } from "tokenizers";
import { HoneError } from "../util/errors.js";
import { codePointIndex } from "../util/text.js";
import type { ChatTemplate, Message } from "./chat-template.js";
import type { LmExample, Turns } from "./data.js";

export interface EncodedSequence {
  ids: Uint32Array;
  /** 1 where the token is learnt (predicted from the tokens before it). */
  mask: Uint8Array;
}

/** One piece of work for the tokenizer: a rendered conversation with its loss spans, or a prompt
 * and an answer tokenized apart and joined (plain-text data, as TRL does it). */
type Piece =
  | { kind: "rendered"; text: string; spans: [number, number][]; content: [number, number][] }
  | { kind: "joined"; prompt: string; answer: string | null };

const CHUNK = 1024;

export interface EncodeStats {
  sequences: number;
  truncated: number;
  /** Dropped: nothing left to learn after truncation. */
  dropped: { origin: string; reason: string }[];
  /** Assistant turns whose place the template hides (they carry no loss). */
  skippedTurns: number;
}

export class LmEncoder {
  private readonly tok: Tokenizer;
  readonly eosId: number | null;

  constructor(
    modelDir: string,
    readonly template: ChatTemplate | null,
    readonly eosToken: string | null,
    readonly maxLength: number,
    readonly lossOn: "assistant" | "all",
    /** An encoder-decoder: each sequence is the source (the prompt, mask 0) followed by the target
     * (the completion, mask 1), each tokenized with the tokenizer's special tokens (T5 ends both
     * with </s>) and each cut to max_length on its own. */
    readonly seq2seq = false,
  ) {
    this.tok = Tokenizer.fromFile(join(modelDir, "tokenizer.json"));
    this.tok.disablePadding();
    this.tok.disableTruncation();
    this.eosId = eosToken === null ? null : (this.tok.tokenToId(eosToken) ?? null);
    // Message text is data: a "<|im_start|>system" typed into a message must not become a role
    // boundary. The same tokenizer without its special added tokens reads such text as plain
    // pieces (HF's split_special_tokens); it is used only where a special token lands in content.
    const spec = JSON.parse(readFileSync(join(modelDir, "tokenizer.json"), "utf8")) as { added_tokens?: { id: number; special?: boolean }[] };
    this.specialIds = new Set((spec.added_tokens ?? []).filter((t) => t.special).map((t) => t.id));
    this.plain = Tokenizer.fromString(JSON.stringify({ ...spec, added_tokens: (spec.added_tokens ?? []).filter((t) => !t.special) }));
    this.plain.disablePadding();
    this.plain.disableTruncation();
  }

  private readonly plain: Tokenizer;
  private readonly specialIds: Set<number>;

  /** A rendered conversation's ids and code-point offsets, with its messages' contents read as
   * text: where a special token falls inside a content span, that span is tokenized apart, by the
   * tokenizer without special tokens, and spliced in. */
  private async encodeRendered(text: string, content: [number, number][], enc?: Encoding): Promise<{ ids: number[]; offsets: [number, number][] }> {
    const first = enc ?? (await this.tok.encode(text, null, { addSpecialTokens: false }));
    const ids = first.getIds();
    const offsets = first.getOffsets() as [number, number][];
    const cp = codePointIndex(text);
    const inside = (at: number, spans: [number, number][]) => spans.findIndex(([s, e]) => at >= cp(s) && at < cp(e));
    const dirty = new Set<number>();
    ids.forEach((id, t) => {
      if (this.specialIds.has(id)) {
        const k = inside(offsets[t]![0], content);
        if (k >= 0) dirty.add(k);
      }
    });
    if (dirty.size === 0) return { ids, offsets };
    // Cut the text at the dirty contents' edges: template parts as before, contents as plain text.
    const out: { ids: number[]; offsets: [number, number][] } = { ids: [], offsets: [] };
    let pos = 0;
    const add = async (from: number, to: number, tok: Tokenizer) => {
      if (to <= from) return;
      const e = await tok.encode(text.slice(from, to), null, { addSpecialTokens: false });
      const base = cp(from);
      out.ids.push(...e.getIds());
      out.offsets.push(...(e.getOffsets() as [number, number][]).map(([a, b]) => [a + base, b + base] as [number, number]));
    };
    for (const k of [...dirty].sort((a, b) => content[a]![0] - content[b]![0])) {
      const [s, e] = content[k]!;
      await add(pos, s, this.tok);
      await add(s, e, this.plain);
      pos = e;
    }
    await add(pos, text.length, this.tok);
    return out;
  }

  tokenId(token: string): number | null {
    return this.tok.tokenToId(token) ?? null;
  }

  private needTemplate(origin: string): ChatTemplate {
    if (!this.template) {
      throw new HoneError("model", "the model has no chat template", [
        {
          file: origin,
          message: "conversational data needs a chat template to turn messages into text",
          hint: "set data.chat_template to a .jinja file, template text, or chatml",
        },
      ]);
    }
    return this.template;
  }

  /** The work for one example: one sequence, or two: (chosen, rejected) for a preference pair,
   * (answer, mismatched answer) for an unpaired one. */
  private pieces(e: LmExample): Piece[] {
    if (this.seq2seq) {
      if (e.format !== "prompt_completion" || typeof e.prompt !== "string" || typeof e.completion !== "string") {
        throw new HoneError("data", "an encoder-decoder model learns from prompt/completion text", [
          {
            file: e.origin,
            message: `this row is ${e.format === "prompt_completion" ? "prompt/completion with messages" : e.format} data`,
            hint: 'rows like {"prompt": "...", "completion": "..."} with text values (the encoder reads the prompt, the decoder learns the completion)',
          },
        ]);
      }
      return [{ kind: "joined", prompt: e.prompt, answer: e.completion }];
    }
    const render = (messages: Message[], lossOn: "assistant" | "last"): Piece => {
      const r = this.needTemplate(e.origin).renderWithSpans(messages, lossOn);
      this.skipped += r.skippedTurns;
      return { kind: "rendered", text: r.text, spans: this.lossOn === "all" && e.format === "chat" ? [[0, r.text.length]] : r.spans, content: r.content };
    };
    const join2 = (prompt: Turns, answer: Turns, lossOn: "assistant" | "last"): Piece =>
      typeof answer === "string" ? { kind: "joined", prompt: prompt as string, answer } : render([...(prompt as Message[]), ...answer], lossOn);
    switch (e.format) {
      case "chat":
        return [render(e.messages, "assistant")];
      case "text":
        return [{ kind: "joined", prompt: e.text, answer: null }];
      case "prompt_completion":
        return [join2(e.prompt, e.completion, "assistant")];
      case "preference":
        return [join2(e.prompt, e.chosen, "last"), join2(e.prompt, e.rejected, "last")];
      case "unpaired":
        // The answer, then the prompt with its partner's answer (KTO's reference point).
        return [join2(e.prompt, e.completion, "last"), join2(e.prompt, e.partner ?? e.completion, "last")];
    }
  }

  private skipped = 0;

  /** Encode examples; a preference pair gives two consecutive sequences (chosen, then rejected).
   * Rendering errors (a template's raise_exception) are reported with each row's place. (Long: one
   * loop over examples, each rendered, tokenized and masked in order.) */
  async encode(examples: LmExample[]): Promise<{ sequences: EncodedSequence[][]; stats: EncodeStats }> {
    this.skipped = 0;
    const issues: { file: string; message: string; hint?: string }[] = [];
    const work: Piece[][] = examples.map((e) => {
      try {
        return this.pieces(e);
      } catch (err) {
        if (err instanceof HoneError) throw err;
        issues.push({
          file: e.origin,
          message: `the chat template refused this conversation: ${(err as Error).message}`,
          hint: "fix the row, or set data.chat_template",
        });
        return [];
      }
    });
    if (issues.length > 0) throw new HoneError("data", `${issues.length} conversation(s) cannot be rendered`, issues.slice(0, 50));

    const flat = work.flat();
    const out: EncodedSequence[] = new Array(flat.length);
    // seq2seq sequences are cut to max_length source and target apart, here: whether they were.
    const cutApart: boolean[] = new Array(flat.length).fill(false);
    for (let i = 0; i < flat.length; i += CHUNK) {
      const part = flat.slice(i, i + CHUNK);
      const rendered = part.map((p, j) => [p, i + j] as const).filter(([p]) => p.kind === "rendered") as [Extract<Piece, { kind: "rendered" }>, number][];
      const joined = part.map((p, j) => [p, i + j] as const).filter(([p]) => p.kind === "joined") as [Extract<Piece, { kind: "joined" }>, number][];
      // Rendered templates carry their own special tokens: add none (as apply_chat_template does).
      const encs = await this.tok.encodeBatch(
        rendered.map(([p]) => p.text),
        { addSpecialTokens: false },
      );
      for (const [j, [p, at]] of rendered.entries()) {
        const { ids, offsets } = await this.encodeRendered(p.text, p.content, encs[j]!);
        const cp = codePointIndex(p.text);
        const spans = p.spans.map(([s, e]) => [cp(s), cp(e)] as const);
        const mask = new Uint8Array(ids.length);
        offsets.forEach(([start], t) => {
          if (spans.some(([s, e]) => start! >= s && start! < e)) mask[t] = 1;
        });
        out[at] = { ids: Uint32Array.from(ids), mask };
      }
      const prompts = await this.tok.encodeBatch(
        joined.map(([p]) => p.prompt),
        { addSpecialTokens: true },
      );
      const answers = await this.tok.encodeBatch(
        joined.map(([p]) => p.answer ?? ""),
        { addSpecialTokens: this.seq2seq },
      );
      joined.forEach(([p, at], j) => {
        if (this.seq2seq) {
          // As HF's tokenizer(prompt, text_target=completion): both with special tokens.
          const src = prompts[j]!.getIds();
          const tgt = answers[j]!.getIds();
          cutApart[at] = src.length > this.maxLength || tgt.length > this.maxLength;
          const ids = Uint32Array.from([...src.slice(0, this.maxLength), ...tgt.slice(0, this.maxLength)]);
          const mask = new Uint8Array(ids.length).fill(1, Math.min(src.length, this.maxLength));
          out[at] = { ids, mask };
          return;
        }
        const a = p.answer === null ? [] : answers[j]!.getIds();
        const pr = prompts[j]!.getIds();
        const eos = this.eosId === null ? [] : [this.eosId];
        const ids = Uint32Array.from([...pr, ...a, ...eos]);
        const mask = new Uint8Array(ids.length);
        // Plain text learns every token; a prompt/completion pair learns the completion and its end.
        mask.fill(1, p.answer === null ? 0 : pr.length);
        out[at] = { ids, mask };
      });
    }

    // Truncate to max_length; an example with nothing left to learn is dropped (a pair: both).
    const stats: EncodeStats = { sequences: 0, truncated: 0, dropped: [], skippedTurns: this.skipped };
    const sequences: EncodedSequence[][] = [];
    let k = 0;
    examples.forEach((e, i) => {
      const seqs = out.slice(k, k + work[i]!.length).map((s, j) => {
        if (this.seq2seq) {
          if (cutApart[k + j]) stats.truncated++;
          return s;
        }
        if (s.ids.length <= this.maxLength) return s;
        stats.truncated++;
        return { ids: s.ids.subarray(0, this.maxLength), mask: s.mask.subarray(0, this.maxLength) };
      });
      k += work[i]!.length;
      // The first token is never predicted (nothing comes before it).
      for (const s of seqs) if (s.mask.length > 0) s.mask[0] = 0;
      if (seqs.some((s) => !s.mask.some((m) => m === 1))) {
        stats.dropped.push({ origin: e.origin, reason: `nothing to learn within max_length ${this.maxLength} tokens` });
        sequences.push([]);
        return;
      }
      stats.sequences += seqs.length;
      sequences.push(seqs);
    });
    return { sequences, stats };
  }

  /** The prompt of a generation: messages rendered with the generation prompt, or plain text. */
  async encodePrompts(prompts: Turns[], origin = "prompt"): Promise<Uint32Array[]> {
    // Plain text gets the tokenizer's special tokens; a rendered template carries its own.
    const out: Uint32Array[] = new Array(prompts.length);
    for (const plain of [true, false]) {
      const at = prompts.map((p, i) => [p, i] as const).filter(([p]) => (typeof p === "string") === plain);
      const texts = at.map(([p]) => (typeof p === "string" ? p : this.needTemplate(origin).render(p, true)));
      const encs = await this.tok.encodeBatch(texts, { addSpecialTokens: plain });
      for (const [j, [p, i]] of at.entries()) {
        // Messages' text never becomes special tokens (a raw-text prompt is the caller's own text).
        const ids =
          typeof p === "string"
            ? encs[j]!.getIds()
            : (await this.encodeRendered(texts[j]!, this.needTemplate(origin).contentSpans(p, texts[j]!), encs[j]!)).ids;
        out[i] = Uint32Array.from(ids);
      }
    }
    return out;
  }

  /** Ids of texts that are data from end to end (prompts built from a user's examples): no
   * special token is read from them; the tokenizer still adds its own (BOS) where it does. */
  async encodeData(texts: string[]): Promise<Uint32Array[]> {
    const encs = await this.plain.encodeBatch(texts, { addSpecialTokens: true });
    return encs.map((e) => Uint32Array.from(e.getIds()));
  }

  /** Text of ids; skipSpecial=false keeps template tokens (previews). */
  async decode(ids: ArrayLike<number>, skipSpecial = true): Promise<string> {
    return this.tok.decode(Array.from(ids), skipSpecial);
  }
}
