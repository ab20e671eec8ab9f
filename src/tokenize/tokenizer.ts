// Tokenization with Hugging Face's own Rust tokenizers (the `tokenizers` npm binding), read
// from the model's tokenizer.json: the same implementation for training, serving and Python.
import { join } from "node:path";
import { Tokenizer } from "tokenizers";

export interface TextTokenizer {
  /** Token ids with special tokens, truncated to maxLength. */
  encode(texts: string[]): Promise<Uint32Array[]>;
  /** Full lengths before truncation (for the data doctor's truncation rate). */
  fullLengths(texts: string[]): Promise<number[]>;
  maxLength: number;
}

const CHUNK = 2048; // encodeBatch runs in parallel in Rust; chunks keep memory flat

function open(dir: string): Tokenizer {
  const tok = Tokenizer.fromFile(join(dir, "tokenizer.json"));
  tok.disablePadding(); // we pad per batch in the engine (dynamic padding)
  return tok;
}

export function loadTokenizer(modelDir: string, maxLength: number): TextTokenizer {
  const truncating = open(modelDir);
  truncating.setTruncation(maxLength);
  const full = open(modelDir);
  full.disableTruncation();
  return {
    maxLength,
    async encode(texts) {
      const out: Uint32Array[] = [];
      for (let i = 0; i < texts.length; i += CHUNK) {
        const encs = await truncating.encodeBatch(texts.slice(i, i + CHUNK));
        for (const e of encs) out.push(Uint32Array.from(e.getIds()));
      }
      return out;
    },
    async fullLengths(texts) {
      const out: number[] = [];
      for (let i = 0; i < texts.length; i += CHUNK) {
        const encs = await full.encodeBatch(texts.slice(i, i + CHUNK));
        for (const e of encs) out.push(e.getLength());
      }
      return out;
    },
  };
}
