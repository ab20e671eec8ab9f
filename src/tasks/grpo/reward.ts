// The user's reward function for task grpo: a JavaScript or TypeScript module, loaded in the Hone
// process (TypeScript is transpiled with the typescript package, types stripped, nothing checked)
// and called for each sampled answer. The engine only ever sees the numbers.
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Turns } from "../../generative/data.js";
import { HoneError } from "../../util/errors.js";

export interface RewardInput {
  /** The prompt as the data gives it (text or messages). */
  prompt: Turns;
  /** The model's answer, decoded (the stop token left out). */
  completion: string;
  /** The prompt's whole data row: its answer to check against, metadata. */
  example: Record<string, unknown>;
}
export type RewardFn = (input: RewardInput) => number | Promise<number>;

const TS = new Set([".ts", ".mts", ".cts"]);

/** Load a reward module: its default export, or its export named `reward`, must be a function. */
export async function loadReward(file: string): Promise<RewardFn> {
  const where = { path: ["grpo", "reward"] };
  if (!existsSync(file))
    throw new HoneError("config", `reward module not found: ${file}`, [{ ...where, message: "no such file", hint: "the path is relative to the config file" }]);
  let url = pathToFileURL(file).href;
  let temp: string | null = null;
  if (TS.has(extname(file))) {
    const ts = (await import("typescript")).default;
    const { readFileSync } = await import("node:fs");
    const out = ts.transpileModule(readFileSync(file, "utf8"), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
      fileName: file,
      reportDiagnostics: true,
    });
    const syntax = out.diagnostics?.[0];
    if (syntax)
      throw new HoneError("config", `the reward module does not parse: ${file}`, [
        { ...where, message: ts.flattenDiagnosticMessageText(syntax.messageText, " "), hint: "fix the module" },
      ]);
    // Beside the source, so that its relative imports and packages resolve as they would for it.
    temp = join(dirname(file), `.${basename(file)}.hone-${process.pid}.mjs`);
    writeFileSync(temp, out.outputText);
    url = pathToFileURL(temp).href;
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    throw new HoneError("config", `the reward module failed to load: ${file}`, [
      { ...where, message: (e as Error).message.split("\n")[0]!, hint: "run it with node to see the error" },
    ]);
  } finally {
    if (temp) rmSync(temp, { force: true });
  }
  const fn = typeof mod.default === "function" ? mod.default : mod.reward;
  if (typeof fn !== "function")
    throw new HoneError("config", `the reward module exports no function: ${file}`, [
      {
        ...where,
        message: `exports: ${Object.keys(mod).join(", ") || "nothing"}`,
        hint: "export default function reward({ prompt, completion, example }) { return 1; }",
      },
    ]);
  return fn as RewardFn;
}

/** Rewards of answers, each a finite number; a throw or a non-number names the answer's prompt. */
export async function rewardAll(fn: RewardFn, inputs: (RewardInput & { origin: string })[]): Promise<number[]> {
  const values: number[] = [];
  for (const { origin, ...input } of inputs) {
    let v: unknown;
    try {
      v = await fn(input);
    } catch (e) {
      throw new HoneError("config", "the reward function threw", [
        {
          file: origin,
          path: ["grpo", "reward"],
          message: (e as Error)?.message ?? String(e),
          hint: `answer: ${JSON.stringify(input.completion.slice(0, 120))}`,
        },
      ]);
    }
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new HoneError("config", "the reward function must return a finite number", [
        {
          file: origin,
          path: ["grpo", "reward"],
          message: `it returned ${typeof v === "number" ? String(v) : (JSON.stringify(v) ?? String(v))}`,
          hint: `answer: ${JSON.stringify(input.completion.slice(0, 120))}`,
        },
      ]);
    values.push(v);
  }
  return values;
}
