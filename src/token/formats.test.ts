import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { HoneError } from "../util/errors.js";
import { readTokenSource, textWords, type TokenSource, wordStrings } from "./formats.js";

const dir = mkdtempSync(join(tmpdir(), "hone-token-formats-"));
const fields = { tokens: "tokens", tags: "tags", spans: "spans", text: "text", intent: "label" };
const source = (path: string, format: TokenSource["format"] = "auto"): TokenSource => ({ path, format, pointer: null, fields, requireLabels: true });
const fails = (src: TokenSource, re: RegExp) =>
  assert.throws(
    () => readTokenSource(src),
    (e: unknown) => e instanceof HoneError && e.kind === "data" && re.test(JSON.stringify(e.issues)),
  );

test("CoNLL columns: blank lines split sentences, -DOCSTART- is skipped, the last column is the tag", () => {
  const f = join(dir, "a.conll");
  writeFileSync(f, "-DOCSTART- -X- O O\n\nJohn NNP B-PER\nSmith NNP I-PER\nlives VBZ O\n\nin\tO\nBerlin\tB-LOC\n");
  const ex = readTokenSource(source(f));
  assert.equal(ex.length, 2);
  assert.equal(ex[0]!.text, "John Smith lives");
  assert.deepEqual(ex[0]!.entities, [{ start: 0, end: 2, type: "PER" }]);
  assert.deepEqual(wordStrings(ex[1]!), ["in", "Berlin"]);
  assert.equal(ex[0]!.origin.endsWith("a.conll:3"), true);
});

test("seq.in / seq.out / label folders give words, tags and intents", () => {
  const d = join(dir, "snips");
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "seq.in"), "play abba now \nweather in paris\n");
  writeFileSync(join(d, "seq.out"), "O B-artist O \nO O B-city\n");
  writeFileSync(join(d, "label"), "PlayMusic\nGetWeather\n");
  const ex = readTokenSource(source(d));
  assert.deepEqual(
    ex.map((e) => [e.intent, e.entities]),
    [
      ["PlayMusic", [{ start: 1, end: 2, type: "artist" }]],
      ["GetWeather", [{ start: 2, end: 3, type: "city" }]],
    ],
  );
});

test("JSONL with tokens + tags, and with text + character spans (code points)", () => {
  const f = join(dir, "t.jsonl");
  writeFileSync(f, `${JSON.stringify({ tokens: ["Ana", "visits", "Köln"], tags: ["B-PER", "O", "B-LOC"] })}\n`);
  assert.deepEqual(readTokenSource(source(f))[0]!.entities, [
    { start: 0, end: 1, type: "PER" },
    { start: 2, end: 3, type: "LOC" },
  ]);
  const g = join(dir, "s.jsonl");
  // "😀" is one code point (two UTF-16 units): offsets after it count code points, as Python's do.
  const text = "😀 Ana visits New-York.";
  writeFileSync(
    g,
    `${JSON.stringify({
      text,
      spans: [
        { start: 2, end: 5, label: "PER" },
        { start: 13, end: 21, label: "LOC" },
      ],
    })}\n`,
  );
  const [e] = readTokenSource(source(g));
  assert.deepEqual(wordStrings(e!), ["😀", "Ana", "visits", "New", "-", "York", "."]);
  assert.deepEqual(e!.entities, [
    { start: 1, end: 2, type: "PER" },
    { start: 3, end: 6, type: "LOC" },
  ]);
});

test("span edges split words: an entity inside a word still gets its own word", () => {
  assert.deepEqual(textWords("unicorns", [3]), [
    [0, 3],
    [3, 8],
  ]);
});

test("bad token data is refused with the file, line and a fix", () => {
  const f = join(dir, "bad.conll");
  writeFileSync(f, "John B-PER\nSmith X-PER\n");
  fails(source(f), /bad.conll.*"line":1.*not O or PREFIX-TYPE/);
  const g = join(dir, "bad-spans.jsonl");
  writeFileSync(
    g,
    [
      JSON.stringify({ text: "abc def", spans: [{ start: 4, end: 12, label: "X" }] }),
      JSON.stringify({
        text: "abc def",
        spans: [
          { start: 0, end: 3, label: "X" },
          { start: 2, end: 7, label: "Y" },
        ],
      }),
      JSON.stringify({ text: "abc def", spans: [{ start: 0, end: 3 }] }),
    ].join("\n"),
  );
  fails(source(g), /outside the text/);
  fails(source(g), /"line":2.*overlap/);
  fails(source(g), /"line":3.*needs integer start, end and a label/);
  const h = join(dir, "bad-tags.jsonl");
  writeFileSync(h, `${JSON.stringify({ tokens: ["a", "b"], tags: ["O"] })}\n${JSON.stringify({ tokens: ["a"], tags: [3] })}\n`);
  fails(source(h), /1 tags for 2 tokens/);
  fails(source(h), /tags are numbers/);
  const d = join(dir, "short");
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "seq.in"), "a b\nc\n");
  writeFileSync(join(d, "seq.out"), "O O\n");
  assert.throws(() => readTokenSource(source(d)), /seq.out has 1 lines, seq.in has 2/);
});
