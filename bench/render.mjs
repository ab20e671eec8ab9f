// Every table of docs/benchmarks.md that has its raw JSON under bench/results/, rendered again
// from it by the script that wrote it (the same code, the same files): run after pulling new
// results, or to check that the document says what the files say (`git diff docs/benchmarks.md`
// is then empty).
//   node bench/render.mjs
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { root } from "./lib.mjs";

const results = join(root, "bench", "results");
const latest = (re) =>
  readdirSync(results)
    .filter((f) => re.test(f))
    .sort()
    .at(-1);
const node = (args) => {
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error(`failed: node ${args.join(" ")}`);
};

const RENDERED = [
  ["fewshot", ["bench/fewshot.mjs", "render"]],
  ["augment-full", ["bench/augment.mjs", "render"]],
  ["token", ["bench/token.mjs", "render"]],
  ["qa", ["bench/qa.mjs", "render"]],
  // The runs the GPU table compares, in the order it shows them.
  [
    "lm-gpu",
    ["bench/lm.mjs", "record", "bench/results/lm-speed-h200.json", "bench/results/lm-speed-h200-grouped.json", "bench/results/lm-speed-h200-full-peer.json"],
  ],
  ["lm-packing", ["bench/lm.mjs", "packing-render"]],
  ["classify", ["bench/classify.mjs", "render"]],
  ["gpu", ["bench/gpu/record.mjs"]],
  ["hierarchy", ["bench/hierarchy.mjs", "render"]],
  ["deploy", ["bench/deploy.mjs", "render"]],
  ["load", ["bench/load.mjs", "render"]],
  ["tune", ["bench/tune.mjs", "render"]],
  ["lm-ab", ["bench/lm.mjs", "ab", "bench/results/lm-speed-h200-lifecycle-ab.json"]],
  ["samplers", ["bench/samplers.mjs", "--render", `bench/results/${latest(/^samplers-.*\.json$/)}`]],
  ["preference", ["bench/preference.mjs", "render"]],
  ["edge", ["bench/edge.mjs", "render"]],
  ["grpo", ["bench/grpo.mjs", "render"]],
];
for (const [section, args] of RENDERED) {
  node(args);
  process.stderr.write(`rendered ${section} from bench/results (node ${args.join(" ")})\n`);
}
