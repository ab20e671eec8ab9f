import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readSource, type SourceSpec } from "./load.js";
import { HoneError } from "../util/errors.js";
import { labelVariants, labelVariantWarnings } from "./quality.js";
import { tempDir } from "../testing/fixtures.js";

function spec(path: string, extra: Partial<SourceSpec> = {}): SourceSpec {
  return { path, format: "auto", text: "text", label: "label", multiLabel: false, labelSeparator: "|", requireLabels: true, ...extra };
}

function file(name: string, content: string): string {
  const p = join(tempDir(), name);
  writeFileSync(p, content);
  return p;
}

function dataError(fn: () => unknown): HoneError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof HoneError);
    return e;
  }
  assert.fail("expected a data error");
}

test("JSONL rows become examples with their origin", () => {
  const p = file("a.jsonl", '{"text":"hi","label":"x"}\n\n{"text":"yo","label":"y"}\n');
  const ex = readSource(spec(p));
  assert.deepEqual(
    ex.map((e) => [e.text, e.labels]),
    [
      ["hi", ["x"]],
      ["yo", ["y"]],
    ],
  );
  assert.match(ex[1]!.origin, /a\.jsonl:3$/);
});

test("every bad JSONL row is reported with its line and field", () => {
  const p = file(
    "bad.jsonl",
    ['{"text":"ok","label":"x"}', '{"text": "broken"', '{"text":"  ","label":"x"}', '{"text":"no label"}', '{"txt":"typo","label":"x"}'].join("\n"),
  );
  const err = dataError(() => readSource(spec(p)));
  const byLine = new Map(err.issues.map((i) => [i.line, i]));
  assert.match(byLine.get(2)!.message, /malformed JSON/);
  assert.match(byLine.get(3)!.message, /empty text/);
  assert.deepEqual(byLine.get(4)!.path, ["label"]);
  assert.match(byLine.get(5)!.message, /missing field "text"/);
  assert.match(byLine.get(5)!.hint!, /"txt"/);
  assert.equal(err.issues.length, 4);
});

test("CSV with a wrong column name names the columns it has", () => {
  const p = file("d.csv", "utterance,label\nhello,x\n");
  const err = dataError(() => readSource(spec(p)));
  assert.match(err.issues[0]!.message, /no column "text"; the header has: utterance, label/);
  assert.equal(err.issues[0]!.line, 1);
});

test("CSV line numbers count quoted newlines correctly", () => {
  const p = file("d.csv", 'text,label\n"multi\nline",x\n"",y\n');
  const err = dataError(() => readSource(spec(p)));
  assert.equal(err.issues[0]!.line, 4);
});

test("TSV, multi-label with a separator, and a column mapping", () => {
  const p = file("d.tsv", "q\ttags\nrefund late\tpayment|late\n");
  const ex = readSource(spec(p, { text: "q", label: "tags", multiLabel: true }));
  assert.deepEqual(ex[0]!.labels, ["payment", "late"]);
});

test("JSON documents with a pointer and positional columns (CLINC150 layout)", () => {
  const p = file("d.json", JSON.stringify({ train: [["what is my balance", "balance"]], val: [] }));
  const ex = readSource(spec(p, { pointer: "/train", text: "0", label: "1" }));
  assert.deepEqual(ex[0]!.labels, ["balance"]);
  const err = dataError(() => readSource(spec(p, { pointer: "/nope" })));
  assert.match(err.message, /not an array of rows/);
});

test("a list label in a single-label task says how to fix it", () => {
  const p = file("a.jsonl", '{"text":"a","label":["x","y"]}\n');
  const err = dataError(() => readSource(spec(p)));
  assert.match(err.issues[0]!.hint!, /multi_label: true/);
});

test("a missing file is a clear error", () => {
  const err = dataError(() => readSource(spec("/nonexistent/x.jsonl")));
  assert.match(err.message, /not found/);
});

test("bytes that are not UTF-8 are reported with their line, never turned into new labels", () => {
  const dir = tempDir();
  const file = join(dir, "latin1.jsonl");
  writeFileSync(file, Buffer.concat([Buffer.from('{"text": "ok", "label": "a"}\n{"text": "caf'), Buffer.from([0xe9]), Buffer.from('", "label": "b"}\n')]));
  assert.throws(
    () => readSource(spec(file)),
    (e: unknown) => e instanceof HoneError && e.kind === "data" && e.issues[0]!.line === 2 && /not UTF-8 at column 14/.test(e.issues[0]!.message),
  );
});

test("labels that look alike but are spelled differently are named; merge_label_variants makes them one", () => {
  const rows = [
    ["refund", 3],
    ["Refund", 1],
    ["refund\u200b", 1],
    ["re\u0301sume\u0301", 1],
    ["résumé", 2],
    ["shipping", 3],
  ] as const;
  const examples = rows.flatMap(([label, n]) => Array.from({ length: n }, (_, i) => ({ text: `${label} ${i}`, labels: [label], origin: "x" })));
  const v = labelVariants(examples as never);
  assert.deepEqual(
    v.groups.map((g) => g.variants.map((x) => x.label)),
    [
      ["refund", "Refund", "refund\u200b"],
      ["résumé", "re\u0301sume\u0301"],
    ],
  );
  const warnings = labelVariantWarnings({ labelVariants: v.groups, replacementLabels: ["caf\uFFFD"] });
  assert.match(warnings[0]!, /"refund" \(3\), "Refund" \(1\), "refund\\u200b" \(1\)/);
  assert.match(warnings[2]!, /U\+FFFD/);
});
