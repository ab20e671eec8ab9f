// The architecture holds: no import circles in src/, no task branches outside src/tasks/, and
// every task name has its plug-in (scripts/check-structure.mjs says what breaks, when it does).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../testing/fixtures.js";
import { TASK_NAMES } from "./names.js";
import { TASKS } from "./registry.js";

test("src/ has no import circle and no task branch outside src/tasks/", () => {
  const r = spawnSync(process.execPath, [join(ROOT, "scripts", "check-structure.mjs")], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, / 0 import circles, 0 task branches/);
});

test("every task name has a plug-in of that name, and every plug-in has the whole shape", () => {
  assert.deepEqual(Object.keys(TASKS).sort(), [...TASK_NAMES].sort());
  for (const [name, t] of Object.entries(TASKS)) {
    assert.equal(t.name, name);
    for (const k of [
      "stage",
      "trainJob",
      "judge",
      "trainSeries",
      "finalise",
      "scalars",
      "evaluate",
      "renderMetrics",
      "headline",
      "curveMetric",
      "modelBytes",
      "inspect",
    ] as const)
      assert.equal(typeof t[k], "function", `${name}.${k}`);
    assert.ok(t.config.selection.allowed.length > 0);
  }
});
