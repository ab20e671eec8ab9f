// The service with a real exported tiny model: in-process through app.request() for the routes
// and the abuse cases, and bound to a loopback port for the slow client and graceful shutdown.
import { test, before, after } from "node:test";
import type { Prediction } from "../predict/types.js";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { join } from "node:path";
import { EXAMPLE_DATA, hone, jsonLines, tempDir, tinyModel } from "../testing/fixtures.js";
import { load, type LoadedModel } from "../deploy/runtime.js";
import { HoneError } from "../util/errors.js";
import { createApp, DEFAULT_SERVE, type ServeOptions } from "./app.js";
import { startServer } from "./server.js";

let bundle = "";
let model: LoadedModel;
const opts = (o: Partial<ServeOptions> = {}, limits: Partial<ServeOptions["limits"]> = {}): ServeOptions => ({
  ...DEFAULT_SERVE,
  ...o,
  limits: { ...DEFAULT_SERVE.limits, ...limits },
});
const post = (body: string, headers: Record<string, string> = {}) => ({
  method: "POST",
  body,
  headers: { "content-type": "application/json", host: "localhost", ...headers },
});

before(async () => {
  const store = tempDir();
  const t = hone([
    "--store",
    store,
    "train",
    "--data",
    EXAMPLE_DATA,
    "--model",
    tinyModel(),
    "--json",
    "--epochs",
    "2",
    "--set",
    "data.max_length=32",
    "--set",
    "train.threads=1",
  ]);
  assert.equal(t.status, 0, t.stderr);
  const run = (jsonLines(t.stdout).find((l) => l.kind === "result") as { run: string }).run;
  bundle = join(tempDir(), "bundle");
  const e = hone(["--store", store, "export", run, "--out", bundle]);
  assert.equal(e.status, 0, e.stderr);
  model = await load(bundle);
});
after(async () => model?.close());

test("classify, health, readiness, metrics and OpenAPI answer; predictions are the model's", async () => {
  const { app } = createApp(model, opts());
  const texts = ["my card was declined", "where is my parcel"];
  const r = await app.request("/v1/classify", post(JSON.stringify({ texts, top_k: 2 })));
  assert.equal(r.status, 200);
  const body = (await r.json()) as { predictions: { label: string; top: unknown[] }[] };
  const direct = (await model.predict(texts)) as Prediction[];
  assert.deepEqual(
    body.predictions.map((p) => p.label),
    direct.map((p) => p.label),
  );
  assert.equal(body.predictions[0]!.top.length, 2);
  assert.equal((await app.request("/healthz", { headers: { host: "localhost" } })).status, 200);
  assert.equal((await app.request("/readyz", { headers: { host: "127.0.0.1:8080" } })).status, 200);
  assert.match(
    await (await app.request("/metrics", { headers: { host: "localhost" } })).text(),
    /hone_requests_total\{route="\/v1\/classify",status="200"\} 1/,
  );
  const spec = (await (await app.request("/openapi.json", { headers: { host: "localhost" } })).json()) as { paths: Record<string, unknown> };
  assert.ok(spec.paths["/v1/classify"]);
});

test("abuse: no key, wrong Host, big body, too many texts, long text, bad JSON: clear 4xx, server stays up", async () => {
  const { app } = createApp(model, opts({ host: "0.0.0.0", apiKey: "s3cret" }, { maxBodyBytes: 2048, maxTexts: 4, maxTextChars: 100 }));
  const ok = JSON.stringify({ texts: ["hello"] });
  const noKey = await app.request("/v1/classify", post(ok));
  assert.equal(noKey.status, 401);
  assert.match(noKey.headers.get("www-authenticate") ?? "", /Bearer/);
  assert.equal((await app.request("/healthz", { headers: { host: "localhost" } })).status, 401, "the key is checked on every route");
  assert.equal((await app.request("/v1/classify", post(ok, { authorization: "Bearer wrong" }))).status, 401);
  const key = { authorization: "Bearer s3cret" };
  assert.equal((await app.request("/v1/classify", post(ok, key))).status, 200);
  assert.equal((await app.request("/v1/classify", post(ok, { "x-api-key": "s3cret" }))).status, 200);

  const rebinding = await app.request("/v1/classify", post(ok, { ...key, host: "evil.example:8080" }));
  assert.equal(rebinding.status, 421);
  const big = await app.request("/v1/classify", post(JSON.stringify({ texts: ["x".repeat(5000)] }), key));
  assert.equal(big.status, 413);
  const many = await app.request("/v1/classify", post(JSON.stringify({ texts: ["a", "b", "c", "d", "e"] }), key));
  assert.equal(many.status, 400);
  assert.match(((await many.json()) as { message: string }).message, /at most 4 texts/);
  const long = await app.request("/v1/classify", post(JSON.stringify({ texts: ["y".repeat(101)] }), key));
  assert.equal(long.status, 400);
  const bad = await app.request("/v1/classify", post("{texts: [", key));
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { message: string }).message, /not JSON/);
  const wrongType = await app.request("/v1/classify", post(JSON.stringify({ texts: "hi" }), key));
  assert.equal(wrongType.status, 400);
  assert.equal((await app.request("/v1/classify", post(ok, key))).status, 200, "still serving");
});

test("POST routes take JSON only: a text/plain or form POST (what a web page sends without a preflight) never reaches the model", async () => {
  const { app } = createApp(model, opts());
  const ok = JSON.stringify({ texts: ["hello"] });
  for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]) {
    const r = await app.request("/v1/classify", { method: "POST", body: ok, headers: { host: "localhost", ...(type ? { "content-type": type } : {}) } });
    assert.equal(r.status, 415, type);
    assert.match(((await r.json()) as { message: string }).message, /application\/json/);
  }
  assert.equal((await app.request("/v1/classify", post(ok, { "content-type": "application/json; charset=utf-8" }))).status, 200);
});

test("concurrent requests are micro-batched and each gets its own answers", async () => {
  const { app } = createApp(model, { ...opts(), batch: { maxBatch: 32, maxWaitMs: 20 } });
  const texts = Array.from({ length: 12 }, (_, i) => [`order ${i} never arrived`]);
  const answers = await Promise.all(
    texts.map(async (t) => (await (await app.request("/v1/classify", post(JSON.stringify({ texts: t })))).json()) as { predictions: { label: string }[] }),
  );
  const direct = (await model.predict(texts.map((t) => t[0]!))) as Prediction[];
  assert.deepEqual(
    answers.map((a) => a.predictions[0]!.label),
    direct.map((p) => p.label),
  );
  const metrics = await (await app.request("/metrics", { headers: { host: "localhost" } })).text();
  const batches = Number(/hone_batch_size_count (\d+)/.exec(metrics)![1]);
  assert.ok(batches < 12, `${batches} model calls for 12 requests`);
});

test("a public bind without a key is refused; a slow client times out and the server stays up; shutdown finishes in-flight work", async () => {
  await assert.rejects(startServer(bundle, 0, opts({ host: "0.0.0.0" })), (e) => e instanceof HoneError && /API key/.test(e.message));

  const server = await startServer(bundle, 0, { ...opts({}, { timeoutMs: 1000 }), batch: { maxBatch: 32, maxWaitMs: 300 } });
  const { port } = new URL(server.url);
  const slow = await new Promise<string>((resolve) => {
    const s = connect(Number(port), "127.0.0.1", () =>
      s.write(`POST /v1/classify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"texts":`),
    );
    let got = "";
    s.on("data", (d) => (got += d));
    s.on("close", () => resolve(got));
  });
  assert.match(slow, /^HTTP\/1\.1 408/);
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);

  // A request waiting in the micro-batch when shutdown starts is still answered.
  const pending = fetch(`${server.url}/v1/classify`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ texts: ["refund please"] }),
  });
  await new Promise((r) => setTimeout(r, 100));
  const closing = server.close();
  assert.equal((await pending).status, 200);
  await closing;
});
