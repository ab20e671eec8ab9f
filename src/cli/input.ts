// Reading texts and prompts for predict / generate: JSONL rows or plain lines, from a file or stdin.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Turns } from "../generative/data.js";
import { HoneError } from "../util/errors.js";

export async function readTexts(input: string | undefined, field: string): Promise<string[]> {
  const lines: string[] = [];
  if (input && input !== "-") lines.push(...readFileSync(input, "utf8").split("\n"));
  else for await (const line of createInterface({ input: process.stdin })) lines.push(line);
  const texts: string[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    if (field === "-")
      texts.push(line); // the whole line (question answering: {"question", "context"} rows)
    else if (line.trimStart().startsWith("{")) {
      let row: Record<string, unknown>;
      try {
        row = JSON.parse(line);
      } catch (e) {
        throw new HoneError("data", "malformed input line", [{ file: input ?? "stdin", line: i + 1, message: (e as Error).message }]);
      }
      if (typeof row[field] !== "string")
        throw new HoneError("data", "input line has no text", [
          {
            file: input ?? "stdin",
            line: i + 1,
            path: [field],
            message: `missing string field "${field}"`,
            hint: "use --text-field, or give plain text lines",
          },
        ]);
      texts.push(row[field] as string);
    } else texts.push(line);
  });
  return texts;
}

/** Prompts for `hone generate`: JSONL rows with messages (chat) or a prompt (text or messages). */
export async function readPrompts(input: string | undefined): Promise<Turns[]> {
  const lines: string[] = [];
  if (input && input !== "-") lines.push(...readFileSync(input, "utf8").split("\n"));
  else for await (const line of createInterface({ input: process.stdin })) lines.push(line);
  const prompts: Turns[] = [];
  const file = input ?? "stdin";
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new HoneError("data", "malformed input line", [
        { file, line: i + 1, message: (e as Error).message, hint: 'one JSON object per line: {"messages": [...]} or {"prompt": "..."}' },
      ]);
    }
    const p = row.messages ?? row.prompt;
    const ok = typeof p === "string" || (Array.isArray(p) && p.every((m) => m && typeof m.role === "string" && typeof m.content === "string"));
    if (!ok)
      throw new HoneError("data", "input line has no prompt", [
        {
          file,
          line: i + 1,
          path: [row.messages !== undefined ? "messages" : "prompt"],
          message: "expected messages [{role, content}, ...] or a prompt string",
        },
      ]);
    prompts.push(p as Turns);
  });
  return prompts;
}
