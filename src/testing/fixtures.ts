// Helpers for tests: temporary directories, the tiny random model, running the real CLI.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, existsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ENGINE_DIR, PACKAGE_ROOT, pythonExecutable } from "../engine/python.js";

export const ROOT = PACKAGE_ROOT;
export const EXAMPLE_DATA = join(ROOT, "examples", "support", "data.jsonl");
/** Public benchmark data beside the project (never copied into it). */
export const SHARED_DATA = join(ROOT, "..", "shared", "data");

/** Eight support questions and their answers: the chat data of the generative tests. */
export const SUPPORT_QA: [string, string][] = [
  ["what is the refund window?", "thirty days from delivery."],
  ["do you ship abroad?", "yes, to most of europe."],
  ["how do i reset my password?", "use the forgot password link."],
  ["can i pay with paypal?", "yes, paypal is accepted."],
  ["where is my order?", "check the tracking page."],
  ["is there a student discount?", "yes, ten percent off."],
  ["can i change my address?", "only before the order ships."],
  ["do you sell gift cards?", "yes, from ten to one hundred."],
];

/** Question/answer pairs as a chat JSONL file (OpenAI messages); returns its path. */
export function writeChat(file: string, qa: [string, string][] = SUPPORT_QA): string {
  const rows = qa.map(([q, a]) => ({
    messages: [
      { role: "user", content: q },
      { role: "assistant", content: a },
    ],
  }));
  writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
  return file;
}

export function tempDir(prefix = "hone-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

const tinies = new Map<string, string>();
/** A 2-layer, 32-wide random BERT whose WordPiece vocabulary covers the given texts (JSONL with
 * "text", or plain lines; by default the example data). */
export function tinyModel(textFiles: string[] = [EXAMPLE_DATA]): string {
  const key = textFiles.join("\0");
  const known = tinies.get(key);
  if (known && existsSync(join(known, "config.json"))) return known;
  const dir = join(tempDir("hone-tiny-"), "model");
  const r = spawnSync(pythonExecutable(), ["-m", "hone_engine.testing.tiny_model", dir, ...textFiles], {
    env: { ...process.env, PYTHONPATH: ENGINE_DIR },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`tiny model: ${r.stderr}`);
  tinies.set(key, dir);
  return dir;
}

const tinyLms = new Map<string, string>();
/** A 2-layer, 64-wide random Llama with a byte-level BPE learnt from the given text files and a
 * ChatML chat template (engine/hone_engine/testing/tiny_lm.py). */
export function tinyLm(textFiles: string[] = [EXAMPLE_DATA], kind: "causal" | "seq2seq" = "causal"): string {
  const key = [kind, ...textFiles].join("\0");
  const known = tinyLms.get(key);
  if (known && existsSync(join(known, "config.json"))) return known;
  const dir = join(tempDir("hone-tiny-lm-"), "model");
  const args = ["-m", "hone_engine.testing.tiny_lm", ...(kind === "seq2seq" ? ["--seq2seq"] : []), dir, ...textFiles];
  const r = spawnSync(pythonExecutable(), args, { env: { ...process.env, PYTHONPATH: ENGINE_DIR }, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tiny LM: ${r.stderr}`);
  tinyLms.set(key, dir);
  return dir;
}

/** `hone train --json` of the example data on the tiny model, with the settings the CLI tests share. */
export function tinyTrainArgs(store: string, extra: string[] = []): string[] {
  const settings = "train.lr=3e-3 train.batch_size=16 data.max_length=32 train.threads=1".split(" ").flatMap((s) => ["--set", s]);
  return ["--store", store, "train", "--data", EXAMPLE_DATA, "--model", tinyModel(), "--json", ...settings, "--seed", "7", ...extra];
}

/** `hone train --json` of a chat file with task sft on a tiny language model, the file serving as
 * validation and test too (learning, not generalisation), under a name. */
export function tinySftArgs(store: string, model: string, chat: string, name: string, sets: string[] = []): string[] {
  const split = ["--data", chat, "--validation", chat, "--test", chat];
  return ["--store", store, "train", "--model", model, "--task", "sft", ...split, "--name", name, "--json", ...sets.flatMap((s) => ["--set", s])];
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function hone(args: string[], opts: { cwd?: string; input?: string; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "hone"), ...args], {
    cwd: opts.cwd,
    input: opts.input,
    encoding: "utf8",
    env: { ...process.env, ...opts.env },
    maxBuffer: 1 << 26,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Start the CLI without waiting, for tests that interrupt it. */
export function honeSpawn(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  return spawn(process.execPath, [join(ROOT, "bin", "hone"), ...args], {
    cwd: opts.cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...opts.env },
  });
}

/** Wait until a run is no longer running (its engine may outlive a killed CLI by a step). */
export async function settled(store: string, runId: string, timeoutMs = 30000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = hone(["--store", store, "runs", "show", runId, "--json"]);
    const status = r.status === 0 ? String(JSON.parse(r.stdout).status) : "unknown";
    if (status !== "running" || Date.now() > until) return status;
    await new Promise((res) => setTimeout(res, 300));
  }
}

/** Run `hone train --json ...` and kill -9 it once its first checkpoint is on disk: what it
 * printed until then, and the run's id. */
export async function trainUntilFirstCheckpoint(args: string[]): Promise<{ out: string; runId: string }> {
  const child = honeSpawn(args);
  let out = "";
  let runId = "";
  await new Promise<void>((resolve) => {
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const lines = jsonLines(out.slice(0, out.lastIndexOf("\n") + 1));
      runId ||= String(lines.find((l) => l.kind === "run")?.id ?? "");
      if (lines.some((l) => l.type === "checkpoint")) {
        child.kill("SIGKILL");
        resolve();
      }
    });
    child.on("exit", () => resolve());
  });
  return { out, runId };
}

export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l.trim().startsWith("{"))
    .map((l) => JSON.parse(l));
}
