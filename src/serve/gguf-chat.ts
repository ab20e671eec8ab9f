// The generation backend of `hone serve` for a GGUF export (hone export --format gguf): llama.cpp
// in this process through node-llama-cpp, no Python. Prompts are rendered and tokenized exactly as
// for the PyTorch server (the run's template and tokenizer travel in the export; message text is
// data); llama.cpp's context holds `generating` sequences and evaluates the running requests
// together, the rest wait in arrival order. A request whose client went away stops at its next
// token; one still waiting is never started.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Message } from "../generative/chat-template.js";
import { ChatTemplate, modelTemplate, readSpecialTokens } from "../generative/chat-template.js";
import type { Turns } from "../generative/data.js";
import { LmEncoder } from "../generative/encode.js";
import type { GgufManifest } from "../generative/gguf.js";
import { HoneError } from "../util/errors.js";
import { sha256File } from "../util/fs.js";
import { type ChatEngine, type ChatParams, type ChatResult, DEFAULT_GENERATING, Slots } from "./chat.js";

/** An export folder (gguf.json + model.gguf) or null. */
export function ggufExport(dir: string): GgufManifest | null {
  const f = join(dir, "gguf.json");
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as GgufManifest) : null;
}

type LlamaSequence = {
  evaluate(tokens: number[], options?: { temperature?: number; topP?: number; seed?: number }): AsyncGenerator<number, void, void>;
  dispose(): void;
};
type LlamaContext = { getSequence(): LlamaSequence; dispose(): Promise<void> };
type LlamaModel = { dispose(): Promise<void> };

export class GgufChatBackend implements ChatEngine {
  private readonly failureListeners: ((e: Error) => void)[] = [];
  readonly failure: Error | null = null;

  private constructor(
    readonly runId: string,
    readonly contextLength: number,
    private readonly encoder: LmEncoder,
    private readonly stopIds: Set<number>,
    private readonly context: LlamaContext,
    private readonly model: LlamaModel,
    readonly generating: number,
  ) {
    this.slots = new Slots(generating);
  }

  private readonly slots: Slots;

  /** Load an export folder; its model.gguf is checked against the sha256 the export recorded. */
  /** threads: llama.cpp's compute threads (default: one per physical core but one, see below). */
  static async start(dir: string, generating = DEFAULT_GENERATING, threads?: number): Promise<GgufChatBackend> {
    const m = ggufExport(dir);
    if (!m) throw new HoneError("usage", `${dir} is not a GGUF export`, [{ message: "no gguf.json", hint: "make one with: hone export <run> --format gguf" }]);
    const file = join(dir, "model.gguf");
    const sha = existsSync(file) ? await sha256File(file) : "missing";
    if (sha !== m.sha256)
      throw new HoneError("model", `${file} is not the file that was exported`, [
        { file, message: `sha256 ${sha.slice(0, 12)}, the export recorded ${m.sha256.slice(0, 12)}`, hint: "copy the export folder again" },
      ]);
    const specials = readSpecialTokens(dir);
    const source = modelTemplate(dir);
    if (!source) throw new HoneError("model", `${dir} has no chat template`, [{ message: "chat completions render messages with it", hint: "export again" }]);
    const encoder = new LmEncoder(dir, new ChatTemplate(source, specials), specials.eos, m.context_length, "assistant");
    // Prebuilt llama.cpp binaries only (no build at run time, no network), on the CPU.
    const { getLlama } = await import("node-llama-cpp");
    const llama = await getLlama({ gpu: false, build: "never" });
    const model = await llama.loadModel({ modelPath: file });
    // One thread per physical core but one: node-llama-cpp's default counts hyperthreads (or more),
    // and llama.cpp's spinning threads beyond the cores made generation ~250x slower on a 2-core
    // machine. The core left over runs this process's JavaScript (the token loop, decoding, HTTP):
    // with llama.cpp on both cores of a 2-core machine it had to take turns with their spin-waits,
    // and SmolLM2-135M q4_0 generated 52-82 tokens/s against 113-117 on one thread (q8_0: 55-64
    // against 79-80), while its prompts took ~45 ms against ~65 ms.
    const context = (await model.createContext({
      contextSize: m.context_length * generating,
      sequences: generating,
      threads: threads ?? Math.max(1, llama.cpuMathCores - 1),
    })) as unknown as LlamaContext;
    return new GgufChatBackend(m.run_id, m.context_length, encoder, new Set(m.stop_token_ids), context, model as unknown as LlamaModel, generating);
  }

  onFailure(listener: (e: Error) => void): void {
    this.failureListeners.push(listener);
  }

  async promptIds(messages: Message[]): Promise<number[]> {
    return this.encode(messages);
  }

  /** Ids of a prompt: messages through the template, or plain text as it is (`hone generate --raw`). */
  async encode(prompt: Turns): Promise<number[]> {
    return Array.from((await this.encoder.encodePrompts([prompt]))[0]!);
  }

  complete(prompt: number[], params: ChatParams, onText: (delta: string) => void = () => {}, signal?: AbortSignal): Promise<ChatResult> {
    return this.slots.run(() => this.generate(prompt, params, onText, signal));
  }

  private async generate(prompt: number[], params: ChatParams, onText: (delta: string) => void, signal?: AbortSignal): Promise<ChatResult> {
    const cancelled = (n: number, text: string): ChatResult => ({ text, finish_reason: "cancelled", prompt_tokens: prompt.length, completion_tokens: n });
    if (signal?.aborted) return cancelled(0, "");
    const seq = this.context.getSequence();
    const ids: number[] = [];
    let sent = "";
    // llama.cpp ends the evaluation itself at an end-of-generation token, without yielding it.
    let finish: ChatResult["finish_reason"] = "stop";
    try {
      const options = params.temperature > 0 ? { temperature: params.temperature, topP: params.top_p, seed: params.seed } : { temperature: 0 };
      for await (const token of seq.evaluate(prompt, options)) {
        if (signal?.aborted) {
          finish = "cancelled";
          break;
        }
        if (this.stopIds.has(token)) {
          finish = "stop";
          break;
        }
        ids.push(token);
        const text = await this.encoder.decode(ids);
        // A character split across tokens decodes to U+FFFD until its last byte comes.
        if (!text.endsWith("\uFFFD") && text.startsWith(sent)) {
          if (text.length > sent.length) onText(text.slice(sent.length));
          sent = text;
        }
        if (ids.length >= params.max_tokens) {
          finish = "length";
          break;
        }
      }
    } finally {
      seq.dispose();
    }
    const text = await this.encoder.decode(ids);
    if (text.length > sent.length && text.startsWith(sent)) onText(text.slice(sent.length));
    if (finish === "cancelled") return cancelled(ids.length, text);
    return { text, finish_reason: finish, prompt_tokens: prompt.length, completion_tokens: ids.length };
  }

  async close(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}
