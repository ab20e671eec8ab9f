// Training and serving tokenize in TypeScript; the reference is Python's `tokenizers`.
// Every text of CLINC150 and BANKING77 must give the same ids on both sides.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { resolveModel } from "../models/catalog.js";
import { pythonExecutable } from "../engine/python.js";
import { SHARED_DATA, tempDir } from "../testing/fixtures.js";
import { loadTokenizer } from "./tokenizer.js";

function corpus(): string[] {
  const clinc = JSON.parse(readFileSync(join(SHARED_DATA, "clinc150", "data_full.json"), "utf8")) as Record<string, [string, string][]>;
  const texts = Object.values(clinc).flatMap((rows) => rows.map((r) => r[0]));
  for (const f of ["train.csv", "test.csv"]) {
    const rows = parseCsv(readFileSync(join(SHARED_DATA, "banking77", f), "utf8"), { columns: true }) as { text: string }[];
    texts.push(...rows.map((r) => r.text));
  }
  return texts;
}

test("TypeScript and Python tokenizers give identical ids on CLINC150 + BANKING77", async () => {
  const model = resolveModel("all-minilm-l6-v2", process.cwd());
  const texts = corpus();
  assert.ok(texts.length > 35000, `corpus has ${texts.length} texts`);
  // Truncation on, at a length some texts exceed, so truncation is compared too.
  const tok = loadTokenizer(model.dir, 24);
  const ids = await tok.encode(texts);
  const dir = tempDir();
  writeFileSync(join(dir, "texts.json"), JSON.stringify(texts));
  writeFileSync(join(dir, "ids.json"), JSON.stringify(ids.map((a) => Array.from(a))));
  const script = `
import json, sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1]); tok.no_padding(); tok.enable_truncation(24)
texts = json.load(open(sys.argv[2])); ts = json.load(open(sys.argv[3]))
py = [e.ids for e in tok.encode_batch(texts)]
bad = [i for i, (a, b) in enumerate(zip(py, ts)) if a != b]
print(json.dumps({"n": len(py), "mismatches": len(bad), "first": bad[:3], "truncated": sum(len(a) == 24 for a in py)}))
`;
  const r = spawnSync(pythonExecutable(), ["-c", script, join(model.dir, "tokenizer.json"), join(dir, "texts.json"), join(dir, "ids.json")], {
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.equal(result.n, texts.length);
  assert.ok(result.truncated > 100, "some texts must hit the truncation limit");
  assert.equal(result.mismatches, 0, `first mismatches at ${result.first}: ${result.first.map((i: number) => texts[i]).join(" | ")}`);
});
