// OpenAI-compatible chat completions for generative runs: POST /v1/chat/completions (JSON or
// server-sent events), GET /v1/models; the same Host check, API key and limits as /v1/classify.
import { randomUUID } from "node:crypto";
import { streamSSE } from "hono/streaming";
import { Counter, Registry } from "prom-client";
import { z } from "zod";
import { ROLES } from "../generative/data.js";
import { admit, commonRoutes, fail, guardedApp, limitBody, type ServeOptions, type ServerState } from "./app.js";
import type { ChatEngine, ChatResult } from "./chat.js";

/** Longest answer a request may ask for, unless the server is started with another. */
export const DEFAULT_MAX_NEW_TOKENS = 512;

export function createChatApp(backend: ChatEngine, opts: ServeOptions, maxNewTokens = DEFAULT_MAX_NEW_TOKENS) {
  const state: ServerState = { draining: false, inFlight: 0, down: () => (backend.failure ? `${backend.failure.message}; restart the server` : null) };
  const registry = new Registry();
  const generated = new Counter({ name: "hone_generated_tokens_total", help: "Tokens generated", registers: [registry] });
  const cancelled = new Counter({
    name: "hone_cancelled_requests_total",
    help: "Requests given up (client gone or time out) while waiting or generating",
    registers: [registry],
  });
  const app = guardedApp(opts, registry, state);
  const L = opts.limits;

  // Unknown fields are ignored, as OpenAI clients send many (user, presence_penalty, ...).
  const Body = z.object({
    model: z.string().optional(),
    messages: z
      .array(z.object({ role: z.enum(ROLES), content: z.string().max(L.maxTextChars, `at most ${L.maxTextChars} characters per message`) }))
      .min(1, "messages must not be empty")
      .max(L.maxTexts, `at most ${L.maxTexts} messages per request`),
    max_tokens: z.number().int().min(1).max(maxNewTokens, `at most ${maxNewTokens} tokens`).optional(),
    max_completion_tokens: z.number().int().min(1).max(maxNewTokens, `at most ${maxNewTokens} tokens`).optional(),
    temperature: z.number().min(0).max(2).default(0),
    top_p: z.number().gt(0).max(1).default(1),
    seed: z.number().int().default(0),
    n: z.literal(1, "only n = 1 is served").default(1),
    stream: z.boolean().default(false),
  });

  const meta = () => ({ id: `chatcmpl-${randomUUID()}`, created: Math.floor(Date.now() / 1000), model: backend.runId });

  app.post("/v1/chat/completions", limitBody(opts), async (c) => {
    const admitted = await admit(c, state, opts, Body);
    if ("response" in admitted) return admitted.response;
    const b = admitted.body;
    const prompt = await backend.promptIds(b.messages);
    const budget = Math.min(b.max_completion_tokens ?? b.max_tokens ?? maxNewTokens, maxNewTokens);
    if (prompt.length >= backend.contextLength) {
      return fail(c, 400, "context_length", `the conversation is ${prompt.length} tokens; the model was trained on at most ${backend.contextLength}`);
    }
    const params = { max_tokens: budget, temperature: b.temperature, top_p: b.top_p, seed: b.seed };
    const m = meta();
    const finish = (r: ChatResult) => {
      generated.inc(r.completion_tokens);
      return { prompt_tokens: r.prompt_tokens, completion_tokens: r.completion_tokens, total_tokens: r.prompt_tokens + r.completion_tokens };
    };
    state.inFlight++;
    // The client going away, or the time running out, cancels the generation (the engine is freed
    // for the next request instead of finishing an answer nobody reads).
    const giveUp = new AbortController();
    const cancel = () => {
      if (giveUp.signal.aborted) return;
      cancelled.inc();
      giveUp.abort();
    };
    if (!b.stream) {
      let timer: NodeJS.Timeout | undefined;
      c.req.raw.signal.addEventListener("abort", cancel, { once: true });
      try {
        const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), L.timeoutMs)));
        const r = await Promise.race([backend.complete(prompt, params, () => {}, giveUp.signal), timeout]);
        if (r === "timeout") {
          cancel();
          return fail(c, 503, "timeout", `not answered within ${L.timeoutMs} ms (stream: true shows the answer as it grows)`);
        }
        return c.json({
          ...m,
          object: "chat.completion",
          choices: [{ index: 0, message: { role: "assistant", content: r.text }, finish_reason: r.finish_reason }],
          usage: finish(r),
        });
      } finally {
        clearTimeout(timer);
        state.inFlight--;
      }
    }
    return streamSSE(c, async (stream) => {
      stream.onAbort(cancel);
      try {
        const chunk = (delta: Record<string, string>, finish_reason: string | null) =>
          stream.writeSSE({ data: JSON.stringify({ ...m, object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason }] }) });
        await chunk({ role: "assistant", content: "" }, null);
        // Deltas arrive while the engine generates; SSE writes are kept in their order.
        let writes: Promise<void> = Promise.resolve();
        const r = await backend.complete(prompt, params, (text) => (writes = writes.then(() => chunk({ content: text }, null))), giveUp.signal);
        await writes;
        if (r.finish_reason === "cancelled") return;
        finish(r);
        await chunk({}, r.finish_reason);
        await stream.writeSSE({ data: "[DONE]" });
      } finally {
        state.inFlight--;
      }
    });
  });
  app.get("/v1/models", (c) => c.json({ object: "list", data: [{ id: backend.runId, object: "model", owned_by: "hone" }] }));
  commonRoutes(app, state, registry, backend.runId, () => ({
    openapi: "3.1.0",
    info: { title: "Hone chat completions", version: "1" },
    paths: {
      "/v1/chat/completions": { post: { summary: "OpenAI-compatible chat completion (stream: true for server-sent events)" } },
      "/v1/models": { get: { summary: "The served model" } },
    },
  }));
  return { app, state };
}
