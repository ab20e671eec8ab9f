// ruff over the engine and the benchmarks' Python (ruff.toml): lint, then the formatter's check.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
const ruff = existsSync(".venv/bin/ruff") ? ".venv/bin/ruff" : "ruff";
for (const args of [
  ["check", "engine", "bench"],
  ["format", "--check", "engine", "bench"],
]) {
  const r = spawnSync(ruff, args, { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
