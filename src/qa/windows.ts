// Question + context as the model reads them: the context is cut into windows of tokens that
// overlap by `stride` tokens, each window encoded as the pair (question, window) with the model's
// own special tokens, and every context token keeps its character offsets in the full context.
// (Windows are cut here, not by the tokenizer's overflow: a pair's overflow in the Rust tokenizer
// drops tokens at the end of the last window.)
import { join } from "node:path";
import { Tokenizer } from "tokenizers";
import { HoneError } from "../util/errors.js";
import { codePoints, type QaExample } from "./formats.js";

export interface QaWindow {
  /** The question this window belongs to (index into the split's examples). */
  example: number;
  ids: Uint32Array;
  /** Per token: [start, end) code points in the context, or null for question and special tokens. */
  offsets: ([number, number] | null)[];
  /** Training targets: the first answer's start and end token, or 0 and 0 (the first token) when
   * the answer is not inside this window or the question has none. */
  start: number;
  end: number;
}

export interface WindowSettings {
  maxLength: number;
  /** Context tokens two neighbouring windows share. */
  stride: number;
  /** Longest question in tokens; longer ones are refused by the data doctor. */
  maxQuestion: number;
}

export class QaEncoder {
  private plain: Tokenizer;
  private pair: Tokenizer;
  /** Special tokens a pair adds ([CLS] a [SEP] b [SEP]: 3). */
  readonly specials: number;

  private constructor(
    modelDir: string,
    readonly settings: WindowSettings,
  ) {
    this.plain = Tokenizer.fromFile(join(modelDir, "tokenizer.json"));
    this.plain.disablePadding();
    this.plain.disableTruncation();
    this.pair = Tokenizer.fromFile(join(modelDir, "tokenizer.json"));
    this.pair.disablePadding();
    this.pair.disableTruncation();
    this.specials = 0;
  }

  static async open(modelDir: string, settings: WindowSettings): Promise<QaEncoder> {
    const e = new QaEncoder(modelDir, settings);
    const a = await e.plain.encode("a", null, { addSpecialTokens: false });
    const b = await e.pair.encode("a", "a");
    (e as { specials: number }).specials = b.getLength() - 2 * a.getLength();
    return e;
  }

  async questionLength(question: string): Promise<number> {
    return (await this.plain.encode(question, null, { addSpecialTokens: false })).getLength();
  }

  /** The windows of one question; `labelled` sets the answer targets. */
  async windows(ex: QaExample, index: number, labelled: boolean): Promise<QaWindow[]> {
    const { maxLength, stride } = this.settings;
    const qLen = await this.questionLength(ex.question);
    const budget = maxLength - qLen - this.specials;
    if (budget < 8)
      throw new HoneError("data", `question ${ex.id} leaves no room for its context`, [
        { file: ex.origin, path: ["question"], message: `${qLen} tokens of ${maxLength}`, hint: "raise data.max_length or shorten the question" },
      ]);
    const cps = codePoints(ex.context);
    const ctx = await this.plain.encode(ex.context, null, { addSpecialTokens: false });
    const offs = ctx.getOffsets() as [number, number][];
    const out: QaWindow[] = [];
    const answer = labelled ? ex.answers[0] : undefined;
    for (let first = 0; ; ) {
      const last = Math.min(offs.length, first + budget); // context tokens [first, last)
      const from = offs.length === 0 ? 0 : offs[first]![0];
      const to = offs.length === 0 ? cps.length : offs[last - 1]![1];
      const enc = await this.pair.encode(ex.question, cps.slice(from, to).join(""));
      const seq = enc.getSequenceIds();
      const offsets = (enc.getOffsets() as [number, number][]).map((o, t) =>
        seq[t] === 1 && o[1] > o[0] ? ([o[0] + from, o[1] + from] as [number, number]) : null,
      );
      let start = 0;
      let end = 0;
      if (answer) {
        const aEnd = answer.start + codePoints(answer.text).length;
        const s = offsets.findIndex((o) => o !== null && o[1] > answer.start);
        let e = -1;
        offsets.forEach((o, t) => {
          if (o !== null && o[0] < aEnd) e = t;
        });
        if (s >= 0 && e >= s && offsets[s]![0] <= answer.start && offsets[e]![1] >= aEnd) {
          start = s;
          end = e;
        }
      }
      // A window re-encoded on its own may come out a token longer at a cut word: keep the budget.
      const ids = Uint32Array.from(enc.getIds()).slice(0, maxLength);
      const inside = end < ids.length;
      out.push({ example: index, ids, offsets: offsets.slice(0, maxLength), start: inside ? start : 0, end: inside ? end : 0 });
      if (last >= offs.length) break;
      first = Math.max(first + 1, last - stride);
    }
    return out;
  }
}
