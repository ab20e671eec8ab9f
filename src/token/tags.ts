// Entity tags: the schemes (IO, BIO, BIOES), entities read off a tag sequence with conlleval's
// rules (what seqeval computes by default), entities written as tags, the transitions a scheme
// allows, and the most probable valid tag sequence under them (constrained Viterbi).

export const SCHEMES = ["io", "bio", "bioes"] as const;
export type Scheme = (typeof SCHEMES)[number];

/** An entity over words: words [start, end) of one type. */
export interface Entity {
  start: number;
  end: number;
  type: string;
}

/** A tag split into its prefix (O, B, I, E, S) and type. BILOU's L and U are read as E and S. */
export function parseTag(tag: string): { prefix: "O" | "B" | "I" | "E" | "S"; type: string } | null {
  if (tag === "O") return { prefix: "O", type: "" };
  const m = /^([BIESLU])[-_](.+)$/.exec(tag);
  if (!m) return null;
  const p = m[1] === "L" ? "E" : m[1] === "U" ? "S" : (m[1] as "B" | "I" | "E" | "S");
  return { prefix: p, type: m[2]! };
}

/** The scheme a set of tags is written in: E/S (or L/U) prefixes mean BIOES, B prefixes BIO, else IO. */
export function detectScheme(tags: Iterable<string>): Scheme {
  let b = false;
  for (const t of tags) {
    const p = parseTag(t)?.prefix;
    if (p === "E" || p === "S") return "bioes";
    if (p === "B") b = true;
  }
  return b ? "bio" : "io";
}

// conlleval's endOfChunk / startOfChunk, which seqeval's default mode follows: an I- after O or
// after another type starts an entity (IOB1 data and invalid BIO read the way the scorers read them).
function endsChunk(prev: string, tag: string, prevType: string, type: string): boolean {
  if (prev === "E" || prev === "S") return true;
  if ((prev === "B" || prev === "I") && (tag === "B" || tag === "S" || tag === "O")) return true;
  if ((prev === "B" || prev === "I") && (tag === "I" || tag === "E") && prevType !== type) return true;
  return prev !== "O" && prevType !== type;
}

function startsChunk(prev: string, tag: string, prevType: string, type: string): boolean {
  if (tag === "B" || tag === "S") return true;
  if ((prev === "E" || prev === "S" || prev === "O") && (tag === "I" || tag === "E")) return true;
  return tag !== "O" && prevType !== type;
}

/** Entities of a tag sequence (conlleval). Unparseable tags count as O. */
export function entities(tags: readonly string[]): Entity[] {
  const out: Entity[] = [];
  let prev = "O";
  let prevType = "";
  let start = -1;
  tags.forEach((tag, i) => {
    const t = parseTag(tag) ?? { prefix: "O", type: "" };
    if (start >= 0 && endsChunk(prev, t.prefix, prevType, t.type)) {
      out.push({ start, end: i, type: prevType });
      start = -1;
    }
    if (startsChunk(prev, t.prefix, prevType, t.type)) start = i;
    prev = t.prefix;
    prevType = t.type;
  });
  if (start >= 0) out.push({ start, end: tags.length, type: prevType });
  return out;
}

/** Entities (not overlapping) written as the tags of `n` words in a scheme. */
export function toTags(ents: readonly Entity[], n: number, scheme: Scheme): string[] {
  const tags = new Array<string>(n).fill("O");
  for (const e of ents) {
    for (let i = e.start; i < e.end; i++) tags[i] = `I-${e.type}`;
    if (scheme === "io") continue;
    if (scheme === "bioes" && e.end - e.start === 1) tags[e.start] = `S-${e.type}`;
    else {
      tags[e.start] = `B-${e.type}`;
      if (scheme === "bioes") tags[e.end - 1] = `E-${e.type}`;
    }
  }
  return tags;
}

/** The tag set of a scheme over entity types: O first, then each type's tags. */
export function tagSet(types: readonly string[], scheme: Scheme): string[] {
  const prefixes = scheme === "io" ? ["I"] : scheme === "bio" ? ["B", "I"] : ["B", "I", "E", "S"];
  return ["O", ...[...types].sort().flatMap((t) => prefixes.map((p) => `${p}-${t}`))];
}

/** Places where a sequence breaks its scheme's rules (an I- after O, an E- without its B-...),
 * by word index, with what was expected. */
export function invalidTransitions(tags: readonly string[], scheme: Scheme): { index: number; message: string }[] {
  if (scheme === "io") return [];
  const out: { index: number; message: string }[] = [];
  let prev = { prefix: "O", type: "" } as { prefix: string; type: string };
  tags.forEach((tag, i) => {
    const t = parseTag(tag);
    if (!t) return;
    const inside = (prev.prefix === "B" || prev.prefix === "I") && prev.type === t.type;
    if ((t.prefix === "I" || t.prefix === "E") && !inside)
      out.push({ index: i, message: `word ${i + 1}: ${tag} after ${i === 0 ? "the sentence start" : tags[i - 1]} (an entity must start with B-${t.type})` });
    else if (scheme === "bioes" && (prev.prefix === "B" || prev.prefix === "I") && !((t.prefix === "I" || t.prefix === "E") && prev.type === t.type))
      out.push({ index: i, message: `word ${i}: ${tags[i - 1]} is not closed by E-${prev.type} before ${tag}` });
    prev = t;
  });
  if (scheme === "bioes" && (prev.prefix === "B" || prev.prefix === "I"))
    out.push({ index: tags.length, message: `${tags.at(-1)} is not closed by E-${prev.type}` });
  return out;
}

/** allowed[i][j]: tag j may follow tag i; start[j] / end[j]: tag j may open / close a sentence. */
export function transitions(labels: readonly string[], scheme: Scheme) {
  const parsed = labels.map((l) => parseTag(l)!);
  const opens = (p: string) => p === "O" || p === "B" || p === "S";
  const closes = (p: string) => scheme !== "bioes" || p === "O" || p === "E" || p === "S";
  const allowed = parsed.map((a) =>
    parsed.map((b) => {
      if (scheme === "io") return true;
      const continues = (b.prefix === "I" || b.prefix === "E") && (a.prefix === "B" || a.prefix === "I") && a.type === b.type;
      if (scheme === "bio") return b.prefix !== "I" || continues;
      // bioes: inside an entity only I/E of its type may follow; outside, only O/B/S.
      return a.prefix === "B" || a.prefix === "I" ? continues : opens(b.prefix);
    }),
  );
  return {
    allowed,
    start: parsed.map((b) => scheme === "io" || opens(b.prefix)),
    end: parsed.map((b) => closes(b.prefix)),
  };
}

/** The most probable tag sequence that obeys the scheme, from per-word log-probabilities. */
export function viterbi(logProbs: readonly Float64Array[], t: ReturnType<typeof transitions>): number[] {
  const n = logProbs.length;
  if (n === 0) return [];
  const k = t.start.length;
  let score = Float64Array.from(logProbs[0]!, (v, j) => (t.start[j] ? v : -Infinity));
  const back: Int32Array[] = [];
  for (let i = 1; i < n; i++) {
    const next = new Float64Array(k).fill(-Infinity);
    const from = new Int32Array(k);
    for (let j = 0; j < k; j++) {
      let best = -Infinity;
      let arg = 0;
      for (let a = 0; a < k; a++) {
        if (!t.allowed[a]![j]) continue;
        const s = score[a]!;
        if (s > best) {
          best = s;
          arg = a;
        }
      }
      next[j] = best + logProbs[i]![j]!;
      from[j] = arg;
    }
    back.push(from);
    score = next;
  }
  let last = 0;
  for (let j = 0; j < k; j++) if (t.end[j] && score[j]! > (t.end[last] ? score[last]! : -Infinity)) last = j;
  const path = [last];
  for (let i = n - 2; i >= 0; i--) path.push(back[i]![path.at(-1)!]!);
  return path.reverse();
}
