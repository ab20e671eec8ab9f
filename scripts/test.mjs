// Runs every test: TypeScript tests (node:test, compiled to dist/) and the engine's pytest suite.
// Called by `npm test` after the build.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, existsSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const find = (dir) =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? find(p) : p.endsWith(".test.js") ? [p] : [];
  });
const files = find(join(root, "dist")).sort();
const only = process.argv.slice(2);
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;

let failed = false;
if (selected.length) {
  const ts = spawnSync(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=spec", ...selected], { stdio: "inherit", cwd: root });
  failed ||= ts.status !== 0;
}
if (!only.length) {
  const python = existsSync(join(root, ".venv/bin/python")) ? join(root, ".venv/bin/python") : "python3";
  const py = spawnSync(python, ["-m", "pytest", "-q", "engine/tests"], {
    stdio: "inherit",
    cwd: root,
    env: { ...process.env, PYTHONPATH: join(root, "engine") },
  });
  failed ||= py.status !== 0;
}
process.exit(failed ? 1 : 0);
