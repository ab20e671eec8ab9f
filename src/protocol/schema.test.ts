import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Event, Job, protocolJsonSchema } from "./schema.js";
import { PROTOCOL_SCHEMA_PATH } from "./export-schema.js";

test("the engine's copy of the JSON Schema is generated from these types", () => {
  assert.deepEqual(JSON.parse(readFileSync(PROTOCOL_SCHEMA_PATH, "utf8")), JSON.parse(JSON.stringify(protocolJsonSchema())));
});

test("events: NaN crosses as null; unknown fields and types are refused", () => {
  const ok = Event.parse(JSON.parse('{"type":"eval","step":3,"epoch":1,"loss":null,"logits":{"label":"/x"},"count":2}'));
  assert.equal(ok.type, "eval");
  assert.throws(() => Event.parse({ type: "eval", step: 3, epoch: 1, loss: 1, logits: {}, count: 2, extra: 1 }));
  assert.throws(() => Event.parse({ type: "teleport" }));
  assert.throws(() => Event.parse({ type: "error", code: "???", message: "x", detail: null }));
});

test("jobs are strict: a missing setting is an error, never a default", () => {
  assert.ok(Job.safeParse({ kind: "probe", protocol_version: 1 }).success);
  const r = Job.safeParse({ kind: "classify.predict", protocol_version: 1 });
  assert.ok(!r.success);
  assert.ok(r.error.issues.length >= 5);
});
