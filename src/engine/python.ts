// Where the engine's Python lives: the project's own virtual environment unless HONE_PYTHON says otherwise.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root (the folder holding package.json, engine/ and dist/). */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const ENGINE_DIR = join(PACKAGE_ROOT, "engine");

export function pythonExecutable(): string {
  if (process.env.HONE_PYTHON) return process.env.HONE_PYTHON;
  const venv = join(PACKAGE_ROOT, ".venv", "bin", "python");
  return existsSync(venv) ? venv : "python3";
}
