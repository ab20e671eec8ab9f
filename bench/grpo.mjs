// Benchmark: GRPO on the support-chat example (a checkable answer: the topic the answer names).
//   node bench/grpo.mjs run [--tag NAME] [--set key=value ...] -> bench/results/grpo-support-chat-<tag>.json
//   node bench/grpo.mjs render                                 -> the "grpo" section of docs/benchmarks.md
// examples/support-chat/sft.yaml is trained and merged; examples/support-chat/grpo.yaml then starts
// from that model with examples/support-chat/reward.ts (1 = the answer names the row's topic
// first). Recorded: the mean reward of every step's sampled answers, the validation reward (greedy)
// at each evaluation, and on the test prompts the greedy reward of the trained model against the
// starting model's, with wall time and throughput.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { machine, root, sh, writeDocSection } from "./lib.mjs";

const results = join(root, "bench", "results");
const [mode = "render", ...rest] = process.argv.slice(2);

function run(tag, sets) {
  const out = join(root, "bench", "out");
  const store = join(out, "store-grpo");
  const merged = join(out, "grpo-sft-model");
  rmSync(store, { recursive: true, force: true });
  rmSync(merged, { recursive: true, force: true });
  const example = join(root, "examples", "support-chat");
  const hone = (args) => sh(process.execPath, [join(root, "bin", "hone"), "--store", store, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  process.stderr.write("== sft (the starting model)\n");
  const sft = hone(["train", join(example, "sft.yaml"), "--json"]);
  const sftRun = JSON.parse(sft.stdout.trim().split("\n").at(-1)).run;
  hone(["merge", sftRun, "--out", merged]);
  process.stderr.write("== grpo\n");
  const g = hone(["train", join(example, "grpo.yaml"), "--json", "--set", `model.path=${merged}`, ...sets.flatMap((s) => ["--set", s])]);
  const result = JSON.parse(g.stdout.trim().split("\n").at(-1));
  const shown = JSON.parse(hone(["runs", "show", result.run, "--json"]).stdout);
  const metrics = shown.metrics;
  const series = (split, name) => metrics.filter((p) => p.split === split && p.name === name).map((p) => [p.step, p.value]);
  const cfg = JSON.parse(readFileSync(join(store, "runs", result.run, "config.json"), "utf8"));
  const record = {
    bench: "grpo",
    task: "support-chat",
    command: `node bench/grpo.mjs run${tag !== "cpu" ? ` --tag ${tag}` : ""}${sets.map((s) => ` --set ${s}`).join("")}`,
    date: new Date().toISOString(),
    machine: machine(cfg.train.device),
    settings: {
      config: "examples/support-chat/grpo.yaml",
      set: sets,
      grpo: { ...cfg.lm.grpo, reward: "examples/support-chat/reward.ts" },
      lr: cfg.train.lr,
      batch_size: cfg.train.batch_size,
      steps: shown.plan.total_steps,
    },
    sft: { run: sftRun, wall_s: sft.wall },
    grpo: {
      run: result.run,
      wall_s: g.wall,
      train_reward: series("train", "reward"),
      tokens_per_s: series("train", "tokens_per_s"),
      validation_reward: series("validation", "reward"),
      test: result.test,
    },
  };
  mkdirSync(results, { recursive: true });
  const file = join(results, `grpo-support-chat-${tag}.json`);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  process.stderr.write(`wrote ${file}\n`);
  rmSync(merged, { recursive: true, force: true });
}

function render() {
  const files = readdirSync(results)
    .filter((f) => /^grpo-.*\.json$/.test(f))
    .sort();
  const cpu = files.filter((f) => !f.startsWith("grpo-trl-"));
  const avg = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  let md = "<!-- grpo:start -->\n## Online RL (GRPO) on the support-chat example\n\n";
  md +=
    "From the merged SFT model of examples/support-chat/sft.yaml, examples/support-chat/grpo.yaml with examples/support-chat/reward.ts: 1 when the answer names the row's topic first, 0.2 when it names it later, minus 0.1 past 40 words. " +
    "Train reward: the mean over a step's sampled answers (temperature 1). Test: greedy answers to the held-out prompts, the trained model against the model it started from.\n";
  for (const f of cpu) {
    const r = JSON.parse(readFileSync(join(results, f), "utf8"));
    const tr = r.grpo.train_reward.map(([, v]) => v);
    const fifth = Math.max(1, Math.floor(tr.length / 5));
    const tps = avg(r.grpo.tokens_per_s.map(([, v]) => v));
    md += `\n\`${r.command}\` · ${r.date.slice(0, 10)} · ${r.machine.cpus} × ${r.machine.cpu} (${r.machine.device}) · ${tr.length} steps of ${r.settings.batch_size} prompts × ${r.settings.grpo.group_size} answers, lr ${r.settings.lr}, beta ${r.settings.grpo.beta} · raw: \`bench/results/${f}\`\n\n`;
    md += "| | starting model (SFT) | after GRPO |\n|---|---|---|\n";
    md += `| train reward (sampled; first / last fifth of the steps) | ${avg(tr.slice(0, fifth)).toFixed(3)} | ${avg(tr.slice(-fifth)).toFixed(3)} |\n`;
    md += `| test reward (greedy, ${r.grpo.test.count} prompts) | ${r.grpo.test.start_reward.toFixed(3)} | ${r.grpo.test.reward.toFixed(3)} |\n`;
    md += `\nValidation reward at each evaluation: ${r.grpo.validation_reward.map(([s, v]) => `step ${s}: ${v.toFixed(3)}`).join(", ")}. GRPO wall time ${r.grpo.wall_s.toFixed(0)} s (sampling, rewarding and training; ${tps.toFixed(0)} tokens/s while training), SFT before it ${r.sft.wall_s.toFixed(0)} s.\n`;
  }
  // Oldest first: grpo-trl-h200.json, then -2, -3...
  const trl = files.filter((f) => f.startsWith("grpo-trl-")).sort((a, b) => a.length - b.length || a.localeCompare(b));
  for (const f of trl) {
    const r = JSON.parse(readFileSync(join(results, f), "utf8"));
    const s = r.settings;
    const hr = r.hone.train_reward.map(([, v]) => v);
    const tr = r.trl.rewards;
    const tenth = (xs, last) => avg(last ? xs.slice(-10) : xs.slice(0, 10));
    const hl = avg(r.hone.completion_tokens.map(([, v]) => v));
    const tl = avg(r.trl.completion_length);
    md += `\n### Hone against TRL's GRPOTrainer on the GPU\n\n\`${r.command}\` · ${r.date.slice(0, 10)} · ${r.machine.device} · TRL ${r.trl.versions.trl}, transformers ${r.trl.versions.transformers}, torch ${r.trl.versions.torch}, peft ${r.trl.versions.peft} · raw: \`bench/results/${f}\`\n\n`;
    md += `Both from ${s.start}; ${r.steps} steps of ${s.prompts_per_step} prompts × ${s.group_size} answers (at most ${s.max_new_tokens} tokens, temperature ${s.temperature}), lr ${s.lr} (${s.scheduler}), LoRA ${s.lora}, beta ${s.beta}, epsilon ${s.epsilon}, ${s.precision}. Reward: ${s.reward}. ${s.order}. Wall: Hone's engine clock at the last step (sampling, the reward round trip to TypeScript, training; no evaluation), TRL's \`trainer.train()\`.\n\n`;
    md += "| | steps/s | wall | mean answer tokens | train reward, first 10 steps | last 10 steps |\n|---|---|---|---|---|---|\n";
    md += `| Hone | ${(r.steps / r.hone.wall_s).toFixed(2)} (${(r.trl.wall_s / r.hone.wall_s).toFixed(2)}x TRL) | ${r.hone.wall_s.toFixed(0)} s | ${hl.toFixed(1)} | ${tenth(hr, false).toFixed(3)} | ${tenth(hr, true).toFixed(3)} |\n`;
    md += `| TRL GRPOTrainer | ${(r.steps / r.trl.wall_s).toFixed(2)} | ${r.trl.wall_s.toFixed(0)} s | ${tl.toFixed(1)} | ${tenth(tr, false).toFixed(3)} | ${tenth(tr, true).toFixed(3)} |\n`;
    if (r.hone.phases_mean_s) {
      const p = r.hone.phases_mean_s;
      md += `\nWhere a Hone step's time went (mean of the steps' log lines): sampling ${p.sampling.toFixed(2)} s, the reward round trip ${p.rewards.toFixed(3)} s, training ${p.training.toFixed(2)} s.\n`;
    }
    if (r.hone.test)
      md += `\nHone's run on its ${r.hone.test.count} test prompts (greedy): reward ${r.hone.test.reward.toFixed(3)} after GRPO, ${r.hone.test.start_reward.toFixed(3)} from the SFT model it started from.\n`;
    if (r.note) md += `\nNote: ${r.note}.\n`;
  }
  md += "<!-- grpo:end -->";
  writeDocSection("grpo", md);
  process.stderr.write("rendered the grpo section of docs/benchmarks.md\n");
}

if (mode === "run") {
  const at = rest.indexOf("--tag");
  const sets = rest.flatMap((a, i) => (rest[i - 1] === "--set" ? [a] : []));
  run(at >= 0 ? rest[at + 1] : "cpu", sets);
  render();
} else render();
