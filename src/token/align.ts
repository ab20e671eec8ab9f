// Word pieces aligned to words: the text is tokenized as the model reads it (special tokens,
// truncation), and each piece is mapped to the word its characters fall in. A word's first piece
// carries the word's tag; the other pieces (and special tokens) have no target (-1).
import { join } from "node:path";
import { Tokenizer } from "tokenizers";

export interface Aligned {
  ids: Uint32Array;
  /** Per word: the index of its first piece, or -1 when the word was cut off by max_length. */
  firstPiece: Int32Array;
}

const CHUNK = 2048;

/** Word k whose range holds code point `at` (or the first word starting in [at, end)); -1 if none. */
function wordAt(words: [number, number][], at: number, end: number): number {
  let lo = 0;
  let hi = words.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (words[mid]![1] <= at) lo = mid + 1;
    else hi = mid - 1;
  }
  // lo: the first word ending after `at`.
  return lo < words.length && words[lo]![0] < Math.max(end, at + 1) ? lo : -1;
}

export class WordAligner {
  private tok: Tokenizer;
  constructor(
    modelDir: string,
    readonly maxLength: number,
  ) {
    this.tok = Tokenizer.fromFile(join(modelDir, "tokenizer.json"));
    this.tok.disablePadding();
    this.tok.setTruncation(maxLength);
  }

  async align(examples: { text: string; words: [number, number][] }[]): Promise<Aligned[]> {
    const out: Aligned[] = [];
    for (let i = 0; i < examples.length; i += CHUNK) {
      const part = examples.slice(i, i + CHUNK);
      const encs = await this.tok.encodeBatch(part.map((e) => e.text));
      encs.forEach((enc, j) => {
        const words = part[j]!.words;
        const firstPiece = new Int32Array(words.length).fill(-1);
        const specials = enc.getSpecialTokensMask();
        enc.getOffsets().forEach(([s, e], t) => {
          if (specials[t] === 1 || s === undefined || e === undefined || e <= s) return;
          const w = wordAt(words, s, e);
          if (w >= 0 && firstPiece[w] === -1) firstPiece[w] = t;
        });
        out.push({ ids: Uint32Array.from(enc.getIds()), firstPiece });
      });
    }
    return out;
  }
}
