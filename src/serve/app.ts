// The HTTP service as a Hono app (tests call app.request() in-process; server.ts binds it).
// Every route: Host check (DNS rebinding), API key when one is set, limits with clear 4xx answers.
import { timingSafeEqual, createHash } from "node:crypto";
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { z } from "zod";
import type { LoadedModel } from "../deploy/runtime.js";
import type { TaskPrediction } from "../run/types.js";
import { taskPlugin } from "../tasks/registry.js";
import { MicroBatcher } from "./batcher.js";
import { openApi } from "./openapi.js";

export interface ServeOptions {
  /** The address bound; loopback unless an API key is set. */
  host: string;
  apiKey: string | null;
  /** Extra Host header names accepted (besides localhost and the bound address). */
  allowedHosts: string[];
  /** Origins allowed by CORS; empty = CORS off. */
  cors: string[];
  limits: { maxBodyBytes: number; maxTexts: number; maxTextChars: number; timeoutMs: number; maxInFlight: number };
  batch: { maxBatch: number; maxWaitMs: number };
}

export const DEFAULT_SERVE: ServeOptions = {
  host: "127.0.0.1",
  apiKey: null,
  allowedHosts: [],
  cors: [],
  limits: { maxBodyBytes: 1 << 20, maxTexts: 64, maxTextChars: 10_000, timeoutMs: 10_000, maxInFlight: 256 },
  batch: { maxBatch: 32, maxWaitMs: 2 },
};

const LOOPBACK = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);
export const isLoopback = (host: string) => LOOPBACK.has(host) || host.startsWith("127.");

export const fail = (c: Context, status: 400 | 401 | 404 | 413 | 415 | 421 | 429 | 500 | 503, error: string, message: string) =>
  c.json({ error, message }, status);

export interface ServerState {
  draining: boolean;
  inFlight: number;
  /** Why the server cannot answer (its engine died), or null: /readyz says so, requests get 503. */
  down?: () => string | null;
}

/** What every service has on every route: request metrics, the Host check, the API key, CORS. */
export function guardedApp(opts: ServeOptions, registry: Registry, state: ServerState): Hono {
  const requests = new Counter({
    name: "hone_requests_total",
    help: "HTTP requests by route and status",
    labelNames: ["route", "status"],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "hone_request_seconds",
    help: "Request latency",
    labelNames: ["route"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  new Gauge({
    name: "hone_in_flight",
    help: "Requests being served",
    registers: [registry],
    collect() {
      this.set(state.inFlight);
    },
  });
  const allowedHosts = new Set([...LOOPBACK, opts.host, ...opts.allowedHosts].map((h) => h.toLowerCase()));
  const keyHash = opts.apiKey ? createHash("sha256").update(opts.apiKey).digest() : null;

  const app = new Hono();
  app.use("*", async (c, next) => {
    const t0 = performance.now();
    await next();
    const route = c.req.routePath === "/*" ? "other" : c.req.routePath;
    requests.inc({ route, status: String(c.res.status) });
    latency.observe({ route }, (performance.now() - t0) / 1000);
  });
  app.use("*", async (c, next) => {
    // DNS rebinding: a browser tricked into calling us sends the attacker's name as Host.
    const host = (c.req.header("host") ?? "").replace(/:\d+$/, "").toLowerCase();
    if (!allowedHosts.has(host)) return fail(c, 421, "misdirected", `Host "${host}" is not served here`);
    await next();
  });
  if (keyHash) {
    app.use("*", async (c, next) => {
      const auth = c.req.header("authorization") ?? "";
      const given = auth.startsWith("Bearer ") ? auth.slice(7) : (c.req.header("x-api-key") ?? "");
      // Compare fixed-length digests in constant time.
      if (!timingSafeEqual(createHash("sha256").update(given).digest(), keyHash)) {
        c.header("WWW-Authenticate", 'Bearer realm="hone"');
        return fail(c, 401, "unauthorized", "a valid API key is required (Authorization: Bearer <key>)");
      }
      await next();
    });
  }
  if (opts.cors.length > 0)
    app.use("*", cors({ origin: opts.cors, allowMethods: ["GET", "POST"], allowHeaders: ["Authorization", "Content-Type", "X-API-Key"] }));
  return app;
}

/** The body limit of POST routes. */
export const limitBody = (opts: ServeOptions) =>
  bodyLimit({ maxSize: opts.limits.maxBodyBytes, onError: (c) => fail(c, 413, "too_large", `the body is over ${opts.limits.maxBodyBytes} bytes`) });

/** Admission of a request: 503 while draining, when the engine is down or when too many are in flight (the queue's limit), 415 for a body
 * that is not declared JSON, 400 for a body
 * that is not JSON or does not fit the schema. The parsed body, or the answer to send. */
export async function admit<T>(c: Context, state: ServerState, opts: ServeOptions, schema: z.ZodType<T>): Promise<{ body: T } | { response: Response }> {
  if (state.draining) return { response: fail(c, 503, "draining", "the server is shutting down") };
  const down = state.down?.();
  if (down) return { response: fail(c, 503, "engine_down", down) };
  if (state.inFlight >= opts.limits.maxInFlight) {
    c.header("Retry-After", "1");
    return { response: fail(c, 503, "busy", `more than ${opts.limits.maxInFlight} requests in flight`) };
  }
  // JSON only: a web page can POST text/plain (or a form) to us without a CORS preflight; with no
  // API key set, that request must not reach the model.
  const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json")
    return { response: fail(c, 415, "unsupported_media_type", `send Content-Type: application/json (got ${type ? `"${type}"` : "none"})`) };
  let raw: unknown;
  try {
    raw = JSON.parse(await c.req.text());
  } catch (e) {
    return { response: fail(c, 400, "malformed_json", `the body is not JSON: ${(e as Error).message}`) };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { response: fail(c, 400, "invalid_request", `${issue.path.join(".") || "body"}: ${issue.message}`) };
  }
  return { body: parsed.data };
}

/** Health, readiness, metrics, OpenAPI and the error answers every service shares. */
export function commonRoutes(app: Hono, state: ServerState, registry: Registry, model: string, api: () => unknown): void {
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    if (state.draining) return fail(c, 503, "draining", "the server is shutting down");
    const down = state.down?.();
    return down ? fail(c, 503, "engine_down", down) : c.json({ ready: true, model });
  });
  app.get("/metrics", async (c) => c.text(await registry.metrics(), 200, { "Content-Type": registry.contentType }));
  app.get("/openapi.json", (c) => c.json(api()));
  app.notFound((c) => fail(c, 404, "not_found", `no route ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    console.error(err);
    return fail(c, 500, "internal", "internal error");
  });
}

export function createApp(model: LoadedModel, opts: ServeOptions) {
  const state: ServerState = { draining: false, inFlight: 0 };
  const registry = new Registry();
  const batchSize = new Histogram({ name: "hone_batch_size", help: "Texts per model call", buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers: [registry] });
  const texts = new Counter({ name: "hone_texts_total", help: "Texts classified", registers: [registry] });
  // The bundle's task decodes (labels, or entities) and names the route.
  const decoder = taskPlugin(model.manifest.task).bundle!;
  const batcher = new MicroBatcher<TaskPrediction>((t) => model.predict(t, { topK: 20 }), opts.batch);
  batcher.onBatch = (n) => batchSize.observe(n);
  const app = guardedApp(opts, registry, state);

  const Body = z
    .object({
      texts: z
        .array(z.string().max(opts.limits.maxTextChars, `at most ${opts.limits.maxTextChars} characters per text`))
        .min(1, "texts must not be empty")
        .max(opts.limits.maxTexts, `at most ${opts.limits.maxTexts} texts per request`),
      top_k: z.number().int().min(1).max(20).default(3),
    })
    .strict();

  app.post(decoder.route, limitBody(opts), async (c) => {
    const admitted = await admit(c, state, opts, Body);
    if ("response" in admitted) return admitted.response;
    const body = admitted.body;
    state.inFlight++;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), opts.limits.timeoutMs)));
      const result = await Promise.race([batcher.submit(body.texts), timeout]);
      if (result === "timeout") return fail(c, 503, "timeout", `not answered within ${opts.limits.timeoutMs} ms`);
      texts.inc(body.texts.length);
      const cut = (p: TaskPrediction) => ("top" in p ? { ...p, top: p.top.slice(0, body.top_k) } : p);
      return c.json({ model: model.manifest.run_id, predictions: result.map(cut) });
    } finally {
      clearTimeout(timer);
      state.inFlight--;
    }
  });
  commonRoutes(app, state, registry, model.manifest.run_id, () => openApi(opts.limits, { run_id: model.manifest.run_id, task: model.manifest.task }, decoder));
  return { app, state };
}
