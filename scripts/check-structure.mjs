// The architecture's two rules about src/, checked from the source text:
//   1. no import circles between files (type-only imports count: they tie modules too);
//   2. no code outside src/tasks/ asks which task it is in (`task ===`, `task !==`, `isGenerative`...).
// `node scripts/check-structure.mjs` prints what breaks them and exits 1; a test runs it too.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");
const files = (dir) =>
  readdirSync(dir).flatMap((f) =>
    statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.endsWith(".d.ts") ? [join(dir, f)] : [],
  );
const all = files(src);
const known = new Set(all);
const IMPORT = /(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

const graph = new Map();
for (const f of all) {
  const deps = new Set();
  for (const m of readFileSync(f, "utf8").matchAll(IMPORT)) {
    const base = normalize(join(dirname(f), m[1] ?? m[2]));
    const target = [base, base.replace(/\.js$/, ".ts"), `${base}.ts`, join(base, "index.ts")].find((c) => known.has(c));
    if (target && target !== f) deps.add(target);
  }
  graph.set(f, deps);
}

// Tarjan's strongly connected components: each of more than one file is a circle.
const index = new Map(),
  low = new Map(),
  stack = [],
  on = new Set(),
  circles = [];
let n = 0;
const visit = (v) => {
  index.set(v, n);
  low.set(v, n++);
  stack.push(v);
  on.add(v);
  for (const w of graph.get(v)) {
    if (!index.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
  }
  if (low.get(v) === index.get(v)) {
    const c = [];
    let w;
    do {
      w = stack.pop();
      on.delete(w);
      c.push(w);
    } while (w !== v);
    if (c.length > 1) circles.push(c.map((x) => relative(root, x)).sort());
  }
};
for (const f of all) if (!index.has(f)) visit(f);

// A comparison with a task field (cfg.task, run.task, task === ...), the old helpers, a plug-in
// looked up by a literal name. Metrics' own `kind` tags are data, not tasks.
const BRANCH = /\btask\s*[!=]==|[!=]==\s*[\w.]*\btask\b|\bisGenerative\b|\bisPairwise\b|taskPlugin\(\s*["']|TASKS\.(classify|hierarchical|sft|dpo|reward)\b/;
const branches = [];
for (const f of all) {
  if (f.startsWith(`${join(src, "tasks")}/`)) continue;
  readFileSync(f, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (BRANCH.test(line) && !line.trimStart().startsWith("//")) branches.push(`${relative(root, f)}:${i + 1}: ${line.trim()}`);
    });
}

for (const c of circles) console.log(`import circle: ${c.join(" -> ")}`);
for (const b of branches) console.log(`task branch outside src/tasks/: ${b}`);
console.log(`${all.length} files, ${circles.length} import circles, ${branches.length} task branches outside src/tasks/`);
process.exit(circles.length + branches.length > 0 ? 1 : 0);
