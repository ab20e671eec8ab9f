// The generation backend of `hone serve` for generative runs: one long-lived engine process
// (lm.serve) holding the model; prompts rendered and tokenized here, tokens decoded here as they
// stream back. Up to `generating` requests run at once in the engine, interleaved token by token
// (a short answer is not held behind a long one); the rest wait in arrival order. One whose client
// went away (or whose time ran out) is cancelled: never sent if it still waits, stopped at the
// next token if it runs. If the engine dies, every request fails at once and `failure` says why.
import { startEngine, type EngineHandle } from "../engine/process.js";
import type { Message } from "../generative/chat-template.js";
import { lmEncoder } from "../generative/dataset.js";
import type { LmEncoder } from "../generative/encode.js";
import { needGenerator, openLmRun } from "../generative/generate.js";
import { trainedModelSpec, type LmPlan } from "../generative/pipeline.js";
import type { ResolvedConfig } from "../config/resolve.js";
import { runtimeSpec } from "../predict/logits.js";
import type { EventOf } from "../protocol/schema.js";
import { PROTOCOL_VERSION } from "../protocol/schema.js";
import { RunStore, storeDir } from "../store/store.js";
import { HoneError } from "../util/errors.js";

/** Chat requests the engine generates at once by default (`hone serve --generating`). */
export const DEFAULT_GENERATING = 8;

/** At most `size` tasks at once; the others wait in arrival order and start as slots free. */
export class Slots {
  private readonly waiting: (() => void)[] = [];
  private running = 0;

  constructor(private readonly size: number) {}

  run<T>(task: () => Promise<T>): Promise<T> {
    const inSlot = (): Promise<T> => {
      this.running++;
      return task().finally(() => {
        this.running--;
        this.waiting.shift()?.();
      });
    };
    if (this.running < this.size && this.waiting.length === 0) return inSlot();
    return new Promise<T>((resolve, reject) => this.waiting.push(() => inSlot().then(resolve, reject)));
  }

  /** Start every waiting task now (each then fails at once: the backend is gone). */
  flush(): void {
    for (const start of this.waiting.splice(0)) start();
  }
}

export interface ChatParams {
  max_tokens: number;
  temperature: number;
  top_p: number;
  seed: number;
}

export interface ChatResult {
  text: string;
  finish_reason: "stop" | "length" | "cancelled";
  prompt_tokens: number;
  completion_tokens: number;
}

interface Pending {
  ids: number[];
  sent: string;
  onText: (delta: string) => void;
  resolve: (r: ChatResult) => void;
  reject: (e: Error) => void;
}

/** What the chat server needs of a generator: the engine's (PyTorch) or llama.cpp's (a GGUF). */
export interface ChatEngine {
  readonly runId: string;
  readonly contextLength: number;
  readonly failure: Error | null;
  promptIds(messages: Message[]): Promise<number[]>;
  complete(prompt: number[], params: ChatParams, onText?: (delta: string) => void, signal?: AbortSignal): Promise<ChatResult>;
  onFailure(listener: (e: Error) => void): void;
  close(): Promise<void>;
}

export class ChatBackend implements ChatEngine {
  private readonly pending = new Map<string, Pending>();
  /** Requests not yet sent, in arrival order; each sends itself when a slot frees. */
  private readonly slots: Slots;
  private next = 0;
  private failureError: Error | null = null;
  private readonly failureListeners: ((e: Error) => void)[] = [];
  private closing = false;

  private constructor(
    readonly runId: string,
    readonly contextLength: number,
    private readonly engine: EngineHandle,
    private readonly encoder: LmEncoder,
    private readonly stopIds: number[],
    /** Requests the engine generates at once (interleaved). */
    readonly generating: number,
  ) {
    this.slots = new Slots(generating);
  }

  /** Start the engine on a finished generative run; resolves once the model is loaded. */
  static async start(ref: string, store?: string, generating = DEFAULT_GENERATING): Promise<ChatBackend> {
    const s = new RunStore(storeDir(store));
    let r: { cfg: ResolvedConfig; plan: LmPlan; modelDir: string; run: { id: string } };
    try {
      r = needGenerator(openLmRun(s, ref));
    } finally {
      s.close();
    }
    const encoder = lmEncoder(r.cfg, r.modelDir);
    if (!encoder.template)
      throw new HoneError("model", `run ${r.run.id} has no chat template`, [
        { message: "chat completions render messages with it", hint: "train with data.chat_template set" },
      ]);
    let backend: ChatBackend | null = null;
    let ready: () => void = () => {};
    const loaded = new Promise<void>((resolve) => (ready = resolve));
    const engine = startEngine(
      { kind: "lm.serve", protocol_version: PROTOCOL_VERSION, model: trainedModelSpec(r.cfg, r.modelDir, r.plan.pad_token_id), runtime: runtimeSpec(r.cfg) },
      { keepEvents: false, onEvent: (ev) => (ev.type === "ready" ? ready() : backend?.onEvent(ev)) },
    );
    backend = new ChatBackend(r.run.id, r.cfg.data.max_length, engine, encoder, r.plan.stop_token_ids, generating);
    const ended = engine.result.then(
      (res) => {
        const tail = res.stderrTail.slice(-5).join("\n");
        backend!.fail(new HoneError("engine", `the generation engine stopped (exit ${res.exitCode ?? res.signal})`, tail ? [{ message: tail }] : []));
        throw new HoneError("engine", "the generation engine stopped before it was ready", [{ message: tail }]);
      },
      (e: Error) => {
        backend!.fail(e);
        throw e;
      },
    );
    await Promise.race([loaded, ended]);
    return backend;
  }

  private fail(e: Error): void {
    if (this.failureError || this.closing) return;
    this.failureError = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.slots.flush(); // each fails with the engine's error
    for (const f of this.failureListeners) f(e);
  }

  /** Why the engine stopped serving (it died), or null while it serves. */
  get failure(): Error | null {
    return this.failureError;
  }

  /** The engine's process id. */
  get enginePid(): number | null {
    return this.engine.pid;
  }

  /** Called once if the engine dies. */
  onFailure(listener: (e: Error) => void): void {
    this.failureListeners.push(listener);
  }

  private onEvent(ev: { type: string }): void {
    if (ev.type === "tokens") {
      const t = ev as EventOf<"tokens">;
      const p = this.pending.get(t.id);
      if (!p) return;
      p.ids.push(...t.token_ids);
      void this.encoder.decode(p.ids).then((text) => {
        // A multi-byte character split across tokens decodes to U+FFFD until its last byte comes.
        if (text.endsWith("\uFFFD") || !text.startsWith(p.sent)) return;
        const delta = text.slice(p.sent.length);
        p.sent = text;
        if (delta) p.onText(delta);
      });
    } else if (ev.type === "generated") {
      const g = ev as EventOf<"generated">;
      const p = this.pending.get(g.id);
      if (!p) return;
      this.pending.delete(g.id);
      void this.encoder.decode(p.ids).then((text) => {
        if (text.length > p.sent.length && text.startsWith(p.sent)) p.onText(text.slice(p.sent.length));
        p.resolve({ text, finish_reason: g.finish_reason, prompt_tokens: g.prompt_tokens, completion_tokens: g.completion_tokens });
      });
    }
  }

  /** Prompt tokens of a conversation (rendered with the run's chat template and generation prompt). */
  async promptIds(messages: Message[]): Promise<number[]> {
    return Array.from((await this.encoder.encodePrompts([messages]))[0]!);
  }

  /** Answer a prompt (promptIds of a conversation); onText gets the text as it grows. Aborting
   * `signal` cancels it: a waiting request is never sent, a running one stops at its next token
   * (finish_reason "cancelled"). */
  complete(prompt: number[], params: ChatParams, onText: (delta: string) => void = () => {}, signal?: AbortSignal): Promise<ChatResult> {
    const run = (): Promise<ChatResult> => {
      if (this.failureError) return Promise.reject(this.failureError);
      if (signal?.aborted) return Promise.resolve({ text: "", finish_reason: "cancelled", prompt_tokens: prompt.length, completion_tokens: 0 });
      const id = String(this.next++);
      const done = new Promise<ChatResult>((resolve, reject) => this.pending.set(id, { ids: [], sent: "", onText, resolve, reject }));
      const cancel = () => this.engine.send({ type: "cancel", id });
      signal?.addEventListener("abort", cancel, { once: true });
      void done.finally(() => signal?.removeEventListener("abort", cancel)).catch(() => {});
      this.engine.send({
        type: "generate",
        id,
        prompt,
        max_new_tokens: params.max_tokens,
        temperature: params.temperature,
        top_p: params.top_p,
        seed: params.seed,
        stop_token_ids: this.stopIds,
      });
      return done;
    };
    // A slot is held from sending until the answer ends; then the longest-waiting request goes.
    return this.slots.run(run);
  }

  async close(): Promise<void> {
    if (this.failureError) return;
    this.closing = true;
    this.engine.send({ type: "stop", reason: "server shutting down" });
    await this.engine.result.catch(() => {});
  }
}
