import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { RunStore } from "./store.js";
import { HoneError } from "../util/errors.js";
import { tempDir } from "../testing/fixtures.js";

test("runs, metric series, artifacts and lineage round-trip", async () => {
  const store = new RunStore(tempDir());
  const a = store.createRun("classify", "first", { x: 1 });
  const b = store.createRun("classify", "second", { x: 2 });
  store.addLineage(b.id, a.id, "init_from");
  store.logMetrics(a.id, 10, "validation", { accuracy: 0.5, loss: Number.NaN });
  store.logMetrics(a.id, 20, "validation", { accuracy: 0.7 });
  store.logMetrics(a.id, 30, "validation", { accuracy: 0.9 });
  store.logMetrics(a.id, 30, "test", { accuracy: 0.8 });
  store.truncateMetrics(a.id, 20);
  assert.deepEqual(
    store
      .metrics(a.id, "validation")
      .filter((p) => p.name === "accuracy")
      .map((p) => p.step),
    [10, 20],
  );
  assert.equal(store.metrics(a.id, "validation").find((p) => p.name === "loss")!.value, null); // NaN stored as NULL
  assert.equal(store.metrics(a.id, "test").length, 1); // test points survive a resume truncation
  const f = join(a.run_dir, "w.bin");
  writeFileSync(f, "abc");
  await store.addArtifact(a.id, "model", f);
  assert.equal(store.artifacts(a.id)[0]!.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.deepEqual(store.lineage(b.id), [{ parent_id: a.id, relation: "init_from" }]);
  store.update(a.id, { status: "completed", test_metrics: { accuracy: 0.8 } });
  assert.equal(store.findRun("first").status, "completed");
  assert.equal(store.findRun(a.id).name, "first");
  assert.equal(store.findRun("last").id, b.id);
  assert.throws(() => store.findRun("nope"), HoneError);
  store.close();
});

test("the schema migrates once and reopens", () => {
  const dir = tempDir();
  new RunStore(dir).close();
  const s = new RunStore(dir);
  assert.equal(s.listRuns().length, 0);
  s.close();
});

test("a file that is not a Hone store is the store's error (exit 5), whatever it holds", async () => {
  const Database = (await import("better-sqlite3")).default;
  const other = tempDir();
  const db = new Database(join(other, "hone.db"));
  db.exec("CREATE TABLE invoices (id INTEGER)");
  db.close();
  const junk = tempDir();
  writeFileSync(join(junk, "hone.db"), "this is not a database, it is a text file\n".repeat(100));
  for (const [dir, pattern] of [
    [other, /is not a Hone run store/],
    [junk, /not an SQLite database|cannot open the run store/],
  ] as const) {
    assert.throws(
      () => new RunStore(dir),
      (e: unknown) => e instanceof HoneError && e.kind === "store" && e.exitCode === 5 && pattern.test(e.message),
    );
  }
});

test("run references match an id exactly, a unique id prefix or a name; % and _ are plain characters", () => {
  const store = new RunStore(tempDir());
  const a = store.createRun("classify", "a_b", { x: 1 });
  assert.equal(store.findRun(a.id).id, a.id);
  assert.equal(store.findRun(a.id.slice(0, 12)).id, a.id);
  assert.equal(store.findRun("a_b").id, a.id);
  for (const ref of ["%", "_", `${a.id.slice(0, 4)}%`, "2%"]) {
    assert.throws(
      () => store.findRun(ref),
      (e: unknown) => e instanceof HoneError && e.kind === "usage",
      ref,
    );
  }
  store.close();
});
