import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { HoneError } from "../util/errors.js";
import { readQaSource } from "./formats.js";

const dir = mkdtempSync(join(tmpdir(), "hone-qa-formats-"));
const squad = (qas: unknown[], context = "Jane Austen wrote Emma in 1815.") =>
  JSON.stringify({ version: "1.1", data: [{ title: "t", paragraphs: [{ context, qas }] }] });

test("SQuAD 1.1 and 2.0 JSON and JSONL rows are read; offsets count code points", () => {
  const f = join(dir, "v2.json");
  writeFileSync(
    f,
    squad([
      { id: "q1", question: "Who wrote Emma?", answers: [{ text: "Jane Austen", answer_start: 0 }] },
      { id: "q2", question: "Who wrote Dune?", answers: [], is_impossible: true },
    ]),
  );
  const ex = readQaSource({ path: f, format: "auto" });
  assert.deepEqual(
    ex.map((e) => [e.id, e.answers]),
    [
      ["q1", [{ text: "Jane Austen", start: 0 }]],
      ["q2", []],
    ],
  );
  const g = join(dir, "rows.jsonl");
  writeFileSync(g, `${JSON.stringify({ question: "Which year?", context: "😀 Emma, 1815.", answers: { text: ["1815"], answer_start: [8] } })}\n`);
  assert.deepEqual(readQaSource({ path: g, format: "auto" })[0]!.answers, [{ text: "1815", start: 8 }]);
});

test("an answer not found at its offset is refused with where it is", () => {
  const f = join(dir, "bad.json");
  writeFileSync(f, squad([{ id: "q1", question: "When?", answers: [{ text: "1815", answer_start: 3 }] }]));
  assert.throws(
    () => readQaSource({ path: f, format: "auto" }),
    (e: unknown) =>
      e instanceof HoneError && e.kind === "data" && /is not at 3/.test(JSON.stringify(e.issues)) && /occurs at 26/.test(JSON.stringify(e.issues)),
  );
  const g = join(dir, "none.json");
  writeFileSync(g, squad([{ id: "q1", question: "When?", answers: [] }]));
  assert.throws(() => readQaSource({ path: g, format: "auto" }), /1 invalid question/);
});
