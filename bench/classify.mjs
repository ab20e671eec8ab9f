// Benchmark: Hone vs a plain Hugging Face Trainer, same model / epochs / batch / lr / max length,
// run one after the other in the same invocation on the same machine.
//   node bench/classify.mjs run [clinc150] [banking77]  -> bench/results/classify-<dataset>-cpu.json each
//   node bench/classify.mjs render                      -> the "classify" section of docs/benchmarks.md
import { readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse } from "yaml";
import { loadResults, machine, root, saveResult, sh as run, writeDocSection } from "./lib.mjs";

const python = join(root, ".venv", "bin", "python");
const out = join(root, "bench", "out");
const [mode = "render", ...rest] = process.argv.slice(2);
const which = rest.length ? rest : ["clinc150", "banking77"];

function runAll() {
  const versions = run(python, ["-c", "import torch, transformers; print(torch.__version__, transformers.__version__, torch.get_num_threads())"])
    .stdout.trim()
    .split(" ");
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
    saveResult(`classify-${name}-cpu.json`, {
      bench: "classify",
      dataset: name,
      command: `node bench/classify.mjs run ${name}`,
      config: `bench/configs/${name}.yaml`,
      date: new Date().toISOString(),
      machine: machine("cpu"),
      versions: { torch: versions[0], transformers: versions[1], torch_threads: Number(versions[2]) },
      settings: {
        model: cfg.model.path,
        epochs: t.epochs,
        lr: t.lr,
        batch_size: t.batch_size,
        max_length: cfg.data.max_length,
        warmup_ratio: t.warmup_ratio,
        weight_decay: t.weight_decay,
        seed: t.seed,
      },
      hone: { test_accuracy: result.test.accuracy, wall_s: hone.wall, run: result.run, best_step: result.best_step, test: result.test },
      hf_trainer: { test_accuracy: peer.test_accuracy, wall_s: hf.wall, result: peer },
    });
  }
}

function render() {
  const pct = (v) => `${(v * 100).toFixed(2)}%`;
  const rows = loadResults(/^classify-.*\.json$/);
  const lines = rows.map(
    (r) =>
      `| ${r.dataset} | ${r.settings.epochs} | ${pct(r.hone.test_accuracy)} | ${r.hone.wall_s.toFixed(0)} s | ${pct(r.hf_trainer.test_accuracy)} | ${r.hf_trainer.wall_s.toFixed(0)} s | ${(r.hone.wall_s / r.hf_trainer.wall_s).toFixed(2)} | ${r.date.slice(0, 10)} | \`bench/results/${r.file}\` |`,
  );
  const machines = [
    ...new Set(
      rows.map(
        (r) =>
          `${r.machine.cpus} × ${r.machine.cpu}, ${r.machine.ram_gib} GiB RAM, torch ${r.versions.torch} (${r.versions.torch_threads} threads), transformers ${r.versions.transformers}, Node ${r.machine.node}`,
      ),
    ),
  ];
  writeDocSection(
    "classify",
    [
      "<!-- classify:start -->",
      "## Classification: Hone vs Hugging Face Trainer (CPU)",
      "",
      "Command: `node bench/classify.mjs run clinc150 banking77` (one raw file per dataset; configs in `bench/configs/`, peer in `bench/peers/hf_trainer_classify.py`), `node bench/classify.mjs render` for the table  ",
      `Machine: ${machines.join("; ")}`,
      "",
      "Same model (all-MiniLM-L6-v2), epochs, batch size, learning rate, warmup, weight decay, max length and seed on both sides, run back to back in one invocation. Wall time is the whole command: data loading, tokenization, training, per-epoch validation and the final test evaluation. Hone keeps the best validation checkpoint (CLINC150); the Trainer peer does the same (`load_best_model_at_end`). BANKING77 has no official validation split, so both sides train on all of train.csv and report the last model.",
      "",
      "| dataset | epochs | Hone test acc | Hone wall | HF Trainer test acc | HF Trainer wall | wall ratio Hone/HF | date | raw |",
      "|---|---|---|---|---|---|---|---|---|",
      ...lines,
      "<!-- classify:end -->",
    ].join("\n"),
  );
  process.stderr.write("rendered the classify section of docs/benchmarks.md\n");
}

if (mode === "run") runAll();
else if (mode !== "render") throw new Error("usage: node bench/classify.mjs run [clinc150] [banking77] | render");
render();
