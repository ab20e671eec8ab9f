// `hone serve <bundle|run>`: load the bundle, bind the app, shut down gracefully.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "node:http";
import { serve as bind } from "@hono/node-server";
import { exportOnnx } from "../deploy/export.js";
import { load } from "../deploy/runtime.js";
import { RunStore, storeDir } from "../store/store.js";
import { taskPlugin } from "../tasks/registry.js";
import { HoneError } from "../util/errors.js";
import type { Hono } from "hono";
import { createApp, isLoopback, type ServeOptions, type ServerState } from "./app.js";
import { ChatBackend, type ChatEngine } from "./chat.js";
import { GgufChatBackend, ggufExport } from "./gguf-chat.js";
import { createChatApp } from "./chat-app.js";

export interface RunningServer {
  url: string;
  /** The routes it answers, for the start-up line. */
  routes: string;
  /** Stop taking requests, finish the ones in flight, release the model. */
  close(): Promise<void>;
  /** Settles if the server can no longer answer (a chat server's engine died): meanwhile /readyz
   * and every request answer 503; `hone serve` then exits (code 4) for its supervisor to restart it. */
  fatal: Promise<Error>;
}

/** A bundle directory as given, or a run's fp32 bundle (exported now if it has none). */
export async function bundleFor(ref: string, store?: string): Promise<string> {
  if (existsSync(join(ref, "bundle.json"))) return ref;
  const s = new RunStore(storeDir(store));
  let dir: string;
  try {
    dir = join(s.findRun(ref).run_dir, "export", "onnx-fp32");
  } finally {
    s.close();
  }
  if (!existsSync(join(dir, "bundle.json"))) await exportOnnx(ref, { store });
  return dir;
}

function checkBind(opts: ServeOptions): void {
  if (!isLoopback(opts.host) && !opts.apiKey) {
    throw new HoneError("usage", `refusing to listen on ${opts.host} without an API key`, [
      { message: "anyone who can reach this address could use the model", hint: "set --api-key (or HONE_API_KEY), or bind to 127.0.0.1" },
    ]);
  }
}

export async function startServer(bundle: string, port: number, opts: ServeOptions, threads?: number): Promise<RunningServer> {
  checkBind(opts);
  const model = await load(bundle, { ...(threads ? { threads } : {}), spinBetweenRuns: false });
  if (!taskPlugin(model.manifest.task).bundle) {
    await model.close();
    throw new HoneError("usage", `${bundle} holds a ${model.manifest.task} model, which hone serve does not offer yet`, [
      { message: "the server answers /v1/classify with labels", hint: `use it from Node (load("${bundle}").predict) or: hone predict ${bundle}` },
    ]);
  }
  const { app, state } = createApp(model, opts);
  return listen(app, state, port, opts, () => model.close(), `POST ${taskPlugin(model.manifest.task).bundle!.route}`);
}

/** A generative run behind POST /v1/chat/completions; the engine holds the model. */
export async function startChatServer(
  ref: string,
  port: number,
  opts: ServeOptions,
  store?: string,
  maxNewTokens?: number,
  generating?: number,
  threads?: number,
): Promise<RunningServer> {
  checkBind(opts);
  // A GGUF export is served by llama.cpp in this process; a run, by the engine.
  const backend: ChatEngine = ggufExport(ref) ? await GgufChatBackend.start(ref, generating, threads) : await ChatBackend.start(ref, store, generating);
  const { app, state } = createChatApp(backend, opts, maxNewTokens);
  const fatal = new Promise<Error>((resolve) => backend.onFailure(resolve));
  return { ...(await listen(app, state, port, opts, () => backend.close(), "POST /v1/chat/completions, GET /v1/models")), fatal };
}

async function listen(app: Hono, state: ServerState, port: number, opts: ServeOptions, release: () => Promise<void>, routes: string): Promise<RunningServer> {
  const server = await new Promise<Server>((resolve, reject) => {
    const s = bind(
      {
        fetch: app.fetch,
        hostname: opts.host,
        port,
        serverOptions: {
          requestTimeout: opts.limits.timeoutMs,
          headersTimeout: Math.min(opts.limits.timeoutMs, 10_000),
          // Node checks those timeouts every 30 s by default: too coarse to cut slow clients.
          connectionsCheckingInterval: Math.max(100, Math.min(1000, opts.limits.timeoutMs / 4)),
        },
      },
      () => resolve(s as Server),
    );
    (s as Server).on("error", reject);
  });
  const address = server.address();
  const boundPort = typeof address === "object" && address ? address.port : port;
  return {
    url: `http://${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${boundPort}`,
    routes,
    fatal: new Promise<Error>(() => {}),
    async close() {
      state.draining = true;
      // close() stops accepting and resolves once in-flight requests have been answered.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
      await release();
    },
  };
}
