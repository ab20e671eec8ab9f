// Unit tests of the micro-batcher: who shares a batch, the size cap, when a batch starts, errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { MicroBatcher } from "./batcher.js";

/** A model that takes `ms` per call and records each call's texts and start time. */
function slowModel(ms: number) {
  const calls: { texts: string[]; at: number }[] = [];
  const run = async (texts: string[]) => {
    calls.push({ texts, at: performance.now() });
    await sleep(ms);
    return texts.map((t) => t.toUpperCase());
  };
  return { calls, run };
}

test("requests within the wait share one batch and each gets its own slice back", async () => {
  const m = slowModel(1);
  const b = new MicroBatcher(m.run, { maxBatch: 32, maxWaitMs: 20 });
  const answers = await Promise.all([b.submit(["a"]), b.submit(["b", "c"]), b.submit(["d"])]);
  assert.deepEqual(answers, [["A"], ["B", "C"], ["D"]]);
  assert.deepEqual(
    m.calls.map((c) => c.texts),
    [["a", "b", "c", "d"]],
  );
});

test("a batch holds at most maxBatch texts and never splits a request", async () => {
  const m = slowModel(1);
  const b = new MicroBatcher(m.run, { maxBatch: 3, maxWaitMs: 20 });
  await Promise.all([b.submit(["a", "b"]), b.submit(["c", "d"]), b.submit(["e"])]);
  assert.deepEqual(
    m.calls.map((c) => c.texts),
    [
      ["a", "b"],
      ["c", "d", "e"],
    ],
  );
});

test("what queues during a batch runs as soon as it ends, without a second wait", async () => {
  // A long wait for company makes a second wait after the busy batch plain to see.
  const m = slowModel(30);
  const b = new MicroBatcher(m.run, { maxBatch: 32, maxWaitMs: 200 });
  const first = b.submit(["a"]);
  await sleep(210); // the first batch has started (after its 200 ms wait) and is running
  const second = b.submit(["b"]);
  const third = b.submit(["c"]);
  await Promise.all([first, second, third]);
  assert.deepEqual(
    m.calls.map((c) => c.texts),
    [["a"], ["b", "c"]],
  );
  const gap = m.calls[1]!.at - m.calls[0]!.at;
  assert.ok(gap < 30 + 100, `the second batch started ${gap.toFixed(0)} ms after the first, which takes 30 ms`);
});

test("a failing model call rejects every request of its batch and the next batch still runs", async () => {
  let fail = true;
  const b = new MicroBatcher(
    async (texts: string[]) => {
      if (fail) throw new Error("model broke");
      return texts;
    },
    { maxBatch: 8, maxWaitMs: 5 },
  );
  const results = await Promise.allSettled([b.submit(["a"]), b.submit(["b"])]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["rejected", "rejected"],
  );
  fail = false;
  assert.deepEqual(await b.submit(["c"]), ["c"]);
});
