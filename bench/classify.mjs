// Benchmark: Hone vs a plain Hugging Face Trainer, same model / epochs / batch / lr / max length,
// run one after the other in the same invocation on the same machine.
//   node bench/classify.mjs [clinc150] [banking77]
// Prints a table and rewrites the "classify" section of docs/benchmarks.md.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const python = join(root, ".venv", "bin", "python");
const out = join(root, "bench", "out");
const which = process.argv.slice(2).length ? process.argv.slice(2) : ["clinc150", "banking77"];

function run(cmd, args, opts = {}) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 28, ...opts });
  if (r.status !== 0) {
    process.stderr.write((r.stdout ?? "").slice(-3000) + (r.stderr ?? "").slice(-3000));
    throw new Error(`${cmd} ${args.join(" ")} failed with ${r.status}`);
  }
  return { stdout: r.stdout, wall: (Date.now() - t0) / 1000 };
}

const rows = [];
for (const name of which) {
  const cfgPath = join(root, "bench", "configs", `${name}.yaml`);
  const cfg = parse(readFileSync(cfgPath, "utf8"));
  const store = join(out, `store-${name}`);
  rmSync(store, { recursive: true, force: true });
  process.stderr.write(`== ${name}: hone\n`);
  const hone = run("node", [join(root, "bin", "hone"), "--store", store, "train", cfgPath, "--json"], { stdio: ["ignore", "pipe", "inherit"] });
  const result = JSON.parse(hone.stdout.trim().split("\n").at(-1));
  const src = (s) => {
    if (!s) return null;
    const o = typeof s === "string" ? { path: s } : s;
    return [resolve(dirname(cfgPath), o.path), o.pointer ?? null, o.text ?? cfg.data.text ?? "text", o.label ?? cfg.data.label ?? "label"];
  };
  const spec = { train: src(cfg.data.train), validation: src(cfg.data.validation), test: src(cfg.data.test) };
  process.stderr.write(`== ${name}: Hugging Face Trainer\n`);
  const t = cfg.train;
  const peerOut = join(out, `hf-${name}`);
  rmSync(peerOut, { recursive: true, force: true });
  const hf = run(
    python,
    [
      join(root, "bench", "peers", "hf_trainer_classify.py"),
      "--spec",
      JSON.stringify(spec),
      "--model",
      join(process.env.HONE_MODELS ?? join(process.env.HOME, ".cache", "hone", "models"), cfg.model.path),
      "--epochs",
      t.epochs,
      "--lr",
      t.lr,
      "--batch-size",
      t.batch_size,
      "--max-length",
      cfg.data.max_length,
      "--warmup-ratio",
      t.warmup_ratio,
      "--weight-decay",
      t.weight_decay,
      "--seed",
      t.seed,
      "--out",
      peerOut,
    ].map(String),
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const peer = JSON.parse(hf.stdout.trim().split("\n").at(-1));
  rmSync(peerOut, { recursive: true, force: true });
  rows.push({
    name,
    epochs: t.epochs,
    honeAcc: result.test.accuracy,
    honeWall: hone.wall,
    hfAcc: peer.test_accuracy,
    hfWall: hf.wall,
    run: result.run,
    best: result.best_step,
  });
}

const pct = (v) => `${(v * 100).toFixed(2)}%`;
const header = "| dataset | epochs | Hone test acc | Hone wall | HF Trainer test acc | HF Trainer wall | wall ratio Hone/HF |\n|---|---|---|---|---|---|---|";
const lines = rows.map(
  (r) =>
    `| ${r.name} | ${r.epochs} | ${pct(r.honeAcc)} | ${r.honeWall.toFixed(0)} s | ${pct(r.hfAcc)} | ${r.hfWall.toFixed(0)} s | ${(r.honeWall / r.hfWall).toFixed(2)} |`,
);
const torch = run(python, ["-c", "import torch, transformers; print(torch.__version__, transformers.__version__, torch.get_num_threads())"]).stdout.trim();
const machine = `${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, torch/transformers/threads: ${torch}, Node ${process.version}`;
const section = [
  "<!-- classify:start -->",
  "## Classification: Hone vs Hugging Face Trainer (CPU)",
  "",
  `Command: \`node bench/classify.mjs ${which.join(" ")}\` (configs in \`bench/configs/\`, peer in \`bench/peers/hf_trainer_classify.py\`)  `,
  `Machine: ${machine}  `,
  `Date: ${new Date().toISOString().slice(0, 10)}`,
  "",
  "Same model (all-MiniLM-L6-v2), epochs, batch size, learning rate, warmup, weight decay, max length and seed on both sides, run back to back in one invocation. Wall time is the whole command: data loading, tokenization, training, per-epoch validation and the final test evaluation. Hone keeps the best validation checkpoint (CLINC150); the Trainer peer does the same (`load_best_model_at_end`). BANKING77 has no official validation split, so both sides train on all of train.csv and report the last model.",
  "",
  header,
  ...lines,
  "<!-- classify:end -->",
].join("\n");

const docPath = join(root, "docs", "benchmarks.md");
let doc = existsSync(docPath)
  ? readFileSync(docPath, "utf8")
  : "# Benchmarks\n\nEvery table here is written by a script under `bench/`; the command, the machine and the peer run are recorded with it.\n";
if (doc.includes("<!-- classify:start -->")) {
  const old = doc.slice(doc.indexOf("<!-- classify:start -->"), doc.indexOf("<!-- classify:end -->") + "<!-- classify:end -->".length);
  const kept = old.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| dataset") && !rows.some((r) => l.startsWith(`| ${r.name} |`)));
  doc = doc.replace(old, section.replace(lines.join("\n"), [...kept, ...lines].join("\n")));
} else doc += `\n${section}\n`;
mkdirSync(dirname(docPath), { recursive: true });
writeFileSync(docPath, doc);
console.log(`${header}\n${lines.join("\n")}`);
