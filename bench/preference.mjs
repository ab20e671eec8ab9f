// Benchmark: the preference losses (dpo.loss dpo | orpo | simpo | kto) on the support-chat example,
// each from the same SFT model, on the same pairs, settings and seed, one after the other.
//   node bench/preference.mjs run [--tag NAME]   -> bench/results/preference-support-chat-<tag>.json
//   node bench/preference.mjs render             -> the "preference" section of docs/benchmarks.md
// Steps: examples/support-chat/sft.yaml is trained and merged (the starting model of all four);
// then examples/support-chat/dpo.yaml with each loss, its beta the loss's default. KTO reads the
// pairs split into good and bad answers. Reward accuracy: share of held-out pairs whose chosen
// answer earns more implicit reward than the rejected one (dpo, kto: beta x (policy - reference);
// orpo, simpo: beta x per-token mean log-probability).
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { machine, root, sh, writeDocSection } from "./lib.mjs";

const results = join(root, "bench", "results");
const [mode = "render", ...rest] = process.argv.slice(2);
const LOSSES = ["dpo", "orpo", "simpo", "kto"];

function hone(store, args) {
  const r = sh(process.execPath, [join(root, "bin", "hone"), "--store", store, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  return { out: r.stdout, wall: r.wall };
}

function run(tag) {
  const out = join(root, "bench", "out");
  const store = join(out, "store-preference");
  const merged = join(out, "preference-sft-model");
  rmSync(store, { recursive: true, force: true });
  rmSync(merged, { recursive: true, force: true });
  const example = join(root, "examples", "support-chat");
  process.stderr.write("== sft (the starting model of every loss)\n");
  const sft = hone(store, ["train", join(example, "sft.yaml"), "--json"]);
  const sftResult = JSON.parse(sft.out.trim().split("\n").at(-1));
  hone(store, ["merge", sftResult.run, "--out", merged]);
  const rows = [];
  for (const loss of LOSSES) {
    process.stderr.write(`== dpo.loss ${loss}\n`);
    const r = hone(store, [
      "train",
      join(example, "dpo.yaml"),
      "--json",
      "--set",
      `model.path=${merged}`,
      "--set",
      `dpo.loss=${loss}`,
      "--name",
      `pref-${loss}`,
    ]);
    const result = JSON.parse(r.out.trim().split("\n").at(-1));
    const cfg = JSON.parse(readFileSync(join(store, "runs", result.run, "config.json"), "utf8"));
    rows.push({ loss, beta: cfg.lm.dpo.beta, run: result.run, wall_s: r.wall, validation: result.validation, test: result.test });
  }
  const t = JSON.parse(readFileSync(join(store, "runs", rows[0].run, "config.json"), "utf8")).train;
  const record = {
    bench: "preference",
    dataset: "examples/support-chat/preferences.jsonl",
    command: `node bench/preference.mjs run${tag !== "cpu" ? ` --tag ${tag}` : ""}`,
    date: new Date().toISOString(),
    machine: machine(t.device),
    settings: {
      start: "examples/support-chat/sft.yaml, merged",
      config: "examples/support-chat/dpo.yaml",
      epochs: t.epochs,
      lr: t.lr,
      batch_size: t.batch_size,
      seed: t.seed,
    },
    sft: { run: sftResult.run, wall_s: sft.wall },
    rows,
  };
  mkdirSync(results, { recursive: true });
  const file = join(results, `preference-support-chat-${tag}.json`);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  process.stderr.write(`wrote ${file}\n`);
  rmSync(merged, { recursive: true, force: true });
}

function render() {
  const files = readdirSync(results)
    .filter((f) => /^preference-.*\.json$/.test(f))
    .sort();
  const pct = (v) => (v === undefined || v === null ? "–" : `${(v * 100).toFixed(1)}%`);
  const num = (v) => (v === undefined || v === null ? "–" : v.toFixed(3));
  let md = "<!-- preference:start -->\n## Preference losses on the support-chat example\n\n";
  md +=
    "Each loss trains the same LoRA (r 16) on the same pairs from the same SFT model (examples/support-chat/sft.yaml, merged), with examples/support-chat/dpo.yaml's settings and its beta the loss's default. " +
    "Reward accuracy: share of pairs whose chosen answer earns more implicit reward than the rejected one (dpo, kto: beta x (policy - reference log-probability); orpo, simpo: beta x per-token mean log-probability, as TRL reports them). " +
    "KTO learns from the pairs split into good and bad answers. Loss values are each method's own and do not compare across rows.\n";
  for (const f of files) {
    const r = JSON.parse(readFileSync(join(results, f), "utf8"));
    md += `\n\`${r.command}\` · ${r.date.slice(0, 10)} · ${r.machine.cpus} × ${r.machine.cpu} (${r.machine.device}) · ${r.settings.epochs} epoch, lr ${r.settings.lr}, batch ${r.settings.batch_size} pairs, seed ${r.settings.seed} · SFT first: ${r.sft.wall_s.toFixed(0)} s · raw: \`bench/results/${f}\`\n\n`;
    if (r.note) md += `Note: ${r.note}.\n\n`;
    md += "| loss | beta | validation reward accuracy | test reward accuracy | test reward margin | test loss | wall |\n|---|---|---|---|---|---|---|\n";
    for (const row of r.rows) {
      md += `| ${row.loss} | ${row.beta} | ${pct(row.validation?.reward_accuracy)} | ${pct(row.test?.reward_accuracy)} | ${num(row.test?.reward_margin)} | ${num(row.test?.loss)} | ${row.wall_s.toFixed(0)} s |\n`;
    }
  }
  md += "<!-- preference:end -->";
  writeDocSection("preference", md);
  process.stderr.write("rendered the preference section of docs/benchmarks.md\n");
}

if (mode === "run") {
  const at = rest.indexOf("--tag");
  run(at >= 0 ? rest[at + 1] : "cpu");
  render();
} else render();
