// OpenAI-compatible chat completions in-process (app.request), backed by the real engine serving
// a tiny model trained through the CLI.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { EXAMPLE_DATA, SUPPORT_QA, hone, jsonLines, tempDir, tinyLm, writeChat } from "../testing/fixtures.js";
import { DEFAULT_SERVE } from "./app.js";
import { ChatBackend, type ChatResult } from "./chat.js";
import { createChatApp } from "./chat-app.js";

const QA = SUPPORT_QA.slice(0, 4);

test("POST /v1/chat/completions answers like the trained model, as JSON and as a stream; limits and keys hold", async () => {
  const dir = tempDir();
  const chat = writeChat(join(dir, "chat.jsonl"), QA);
  const store = join(dir, "store");
  const r = hone([
    "--store",
    store,
    "train",
    "--task",
    "sft",
    "--model",
    tinyLm([EXAMPLE_DATA, chat]),
    "--data",
    chat,
    "--validation",
    chat,
    "--test",
    chat,
    "--json",
    "--set",
    "train.threads=1",
    "--set",
    "train.epochs=30",
    "--set",
    "train.batch_size=2",
    "--set",
    "train.lr=1e-2",
    "--set",
    "train.warmup_ratio=0",
    "--set",
    "generation.eval_samples=0",
    "--name",
    "chat",
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(jsonLines(r.stdout).some((l) => l.kind === "result"));

  const backend = await ChatBackend.start("chat", store, 2);
  try {
    const opts = { ...DEFAULT_SERVE, limits: { ...DEFAULT_SERVE.limits, maxTexts: 8 } };
    const { app } = createChatApp(backend, opts, 64);
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      app.request("/v1/chat/completions", {
        method: "POST",
        headers: { host: "localhost", "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });

    const res = await post({ model: "chat", messages: [{ role: "user", content: QA[0]![0] }] });
    assert.equal(res.status, 200);
    const j = (await res.json()) as {
      object: string;
      choices: { message: { role: string; content: string }; finish_reason: string }[];
      usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    };
    assert.equal(j.object, "chat.completion");
    assert.equal(j.choices[0]!.message.content, QA[0]![1]);
    assert.equal(j.choices[0]!.finish_reason, "stop");
    assert.ok(j.usage.completion_tokens > 0 && j.usage.total_tokens === j.usage.prompt_tokens + j.usage.completion_tokens);

    const s = await post({ messages: [{ role: "user", content: QA[1]![0] }], stream: true });
    assert.equal(s.status, 200);
    assert.match(s.headers.get("content-type") ?? "", /text\/event-stream/);
    const data = (await s.text())
      .split("\n")
      .filter((l) => l.startsWith("data: "))
      .map((l) => l.slice(6));
    assert.equal(data.at(-1), "[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as { object: string; choices: { delta: { content?: string }; finish_reason: string | null }[] });
    assert.ok(chunks.every((c) => c.object === "chat.completion.chunk"));
    assert.equal(chunks.map((c) => c.choices[0]!.delta.content ?? "").join(""), QA[1]![1]);
    assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, "stop");
    assert.ok(chunks.length >= 4, "the answer came in several pieces");

    // A short budget ends with finish_reason "length".
    const short = (await (await post({ messages: [{ role: "user", content: QA[2]![0] }], max_tokens: 2 })).json()) as {
      choices: { finish_reason: string }[];
      usage: { completion_tokens: number };
    };
    assert.equal(short.choices[0]!.finish_reason, "length");
    assert.equal(short.usage.completion_tokens, 2);

    for (const [body, status, error] of [
      [{ messages: [{ role: "robot", content: "x" }] }, 400, "invalid_request"],
      [{ messages: [] }, 400, "invalid_request"],
      [{ messages: [{ role: "user", content: "x" }], max_tokens: 65 }, 400, "invalid_request"],
      [{ messages: [{ role: "user", content: "x" }], n: 2 }, 400, "invalid_request"],
      [{ messages: Array.from({ length: 9 }, () => ({ role: "user", content: "x" })) }, 400, "invalid_request"],
    ] as const) {
      const bad = await post(body);
      assert.equal(bad.status, status, JSON.stringify(body));
      assert.equal(((await bad.json()) as { error: string }).error, error);
    }
    const notJson = await app.request("/v1/chat/completions", {
      method: "POST",
      headers: { host: "localhost", "content-type": "application/json" },
      body: "{",
    });
    assert.equal(notJson.status, 400);
    // JSON only: a text/plain POST (a web page's, without a preflight) never reaches the model.
    const plain = await app.request("/v1/chat/completions", {
      method: "POST",
      headers: { host: "localhost", "content-type": "text/plain" },
      body: JSON.stringify({ messages: [{ role: "user", content: "x" }] }),
    });
    assert.equal(plain.status, 415);
    const rebinding = await app.request("/v1/models", { headers: { host: "evil.example" } });
    assert.equal(rebinding.status, 421);
    const models = (await (await app.request("/v1/models", { headers: { host: "localhost" } })).json()) as { data: { id: string }[] };
    assert.equal(models.data.length, 1);

    const keyed = createChatApp(backend, { ...opts, apiKey: "s3cret" }, 64).app;
    const denied = await keyed.request("/v1/chat/completions", {
      method: "POST",
      headers: { host: "localhost" },
      body: JSON.stringify({ messages: [{ role: "user", content: "x" }] }),
    });
    assert.equal(denied.status, 401);
    const allowed = await keyed.request("/v1/chat/completions", {
      method: "POST",
      headers: { host: "localhost", authorization: "Bearer s3cret", "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: QA[3]![0] }] }),
    });
    assert.equal(((await allowed.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content, QA[3]![1]);

    // Two requests generate at once (generating: 2), interleaved: a short answer asked after a
    // long one ends first, and each is what it would be alone. A third, given up while it waits
    // for a slot, is never generated: it ends "cancelled" with no tokens.
    const prompt = await backend.promptIds([{ role: "user", content: QA[0]![0] }]);
    const params = { max_tokens: 64, temperature: 0, top_p: 1, seed: 0 };
    const ended: string[] = [];
    const giveUp = new AbortController();
    const noted = (name: string) => (x: ChatResult) => {
      ended.push(name);
      return x;
    };
    const long = backend.complete(prompt, params).then(noted("long"));
    const quick = backend.complete(prompt, { ...params, max_tokens: 2 }).then(noted("quick"));
    const third = backend.complete(prompt, params, () => {}, giveUp.signal);
    giveUp.abort();
    assert.equal((await long).text, QA[0]![1]);
    assert.equal((await quick).completion_tokens, 2);
    assert.ok(QA[0]![1].startsWith((await quick).text));
    assert.deepEqual(ended, ["quick", "long"]);
    assert.deepEqual(await third, { text: "", finish_reason: "cancelled", prompt_tokens: prompt.length, completion_tokens: 0 });

    // The engine dies: readiness and requests say so (503), waiting requests fail at once, and the
    // server's fatal promise settles (hone serve then exits 4 for its supervisor to restart it).
    const died = new Promise<Error>((resolve) => backend.onFailure(resolve));
    process.kill(backend.enginePid!, "SIGKILL");
    assert.match((await died).message, /generation engine stopped/);
    const ready = await app.request("/readyz", { headers: { host: "localhost" } });
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as { error: string }).error, "engine_down");
    const after = await post({ messages: [{ role: "user", content: QA[0]![0] }] });
    assert.equal(after.status, 503);
    await assert.rejects(backend.complete(prompt, params), /generation engine stopped/);
  } finally {
    await backend.close();
  }
});
