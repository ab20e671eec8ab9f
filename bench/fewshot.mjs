// Benchmark: classifiers from k examples per label (CLINC150, BANKING77; 5 and 10 shots, the
// DNNC splits, the full test sets). Hone's plain fine-tuning, Hone's few-shot (contrastive stage,
// then the head), Hone's zero-shot (label names only), and the SetFit library on the same encoder
// (bench/peers/setfit_fewshot.py), each seed of each back to back in one invocation.
//   node bench/fewshot.mjs run [--datasets clinc150,banking77] [--shots 5,10] [--seeds 0,1,2]
//        [--methods finetune,fewshot,zeroshot,setfit,augment] [--tag NAME]
//        -> bench/results/fewshot-<dataset>-<shots>-<tag>.json (every run: accuracy, wall time)
//   node bench/fewshot.mjs merge <file>... [--into h200]   runs measured apart, into one file per (data set, shots)
//   node bench/fewshot.mjs render -> the "fewshot" section of docs/benchmarks.md
// The peer installs into bench/.peers (the benchmark's environment; the engine's is untouched).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, hostname, totalmem } from "node:os";
import { join } from "node:path";
import { cpuMachine, installSetfit, mean, root, setsSuffix, sh, spread, trainFresh, trainResumable, writeDocSection, writeWhole } from "./lib.mjs";

const results = join(root, "bench", "results");
const [mode = "render", ...rest] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : dflt;
};
const data = process.env.BENCH_DATA ?? join(root, "..", "shared", "data");
/** More settings for every Hone run (BENCH_SET="train.compile=false ..."), recorded in the command. */
const extraSets = (process.env.BENCH_SET ?? "").split(" ").filter(Boolean);
const python = process.env.HONE_PYTHON ?? join(root, ".venv", "bin", "python");
const peers = join(root, "bench", ".peers");

/** A DNNC split (seq.in + label, one example per line) as JSONL, in bench/out. */
function jsonl(dataset, split) {
  const dir = join(data, dataset, "dnnc_format", split);
  const texts = readFileSync(join(dir, "seq.in"), "utf8").split("\n");
  const labels = readFileSync(join(dir, "label"), "utf8").split("\n");
  const rows = texts.map((t, i) => [t.trim(), (labels[i] ?? "").trim()]).filter(([t, l]) => t && l);
  const file = join(root, "bench", "out", "fewshot-data", `${dataset}-${split}.jsonl`);
  mkdirSync(join(file, ".."), { recursive: true });
  writeWhole(file, `${rows.map(([text, label]) => JSON.stringify({ text, label })).join("\n")}\n`);
  return { file, count: rows.length };
}

/** `hone train` of the benchmark config with these settings: its result line, wall time and store.
 * Without a key, in a fresh store. With a key (augmentation: long on any machine), in a store of
 * that name that outlives the process, resumed if an earlier attempt was stopped (lib.mjs). */
function trainHone(sets, key) {
  const args = [join(root, "bench", "configs", "fewshot.yaml"), ...[...sets, ...extraSets].flatMap((s) => ["--set", s])];
  if (key) return trainResumable(join(root, "bench", "out", `store-fewshot-${key}`), args, "fewshot");
  return trainFresh(join(root, "bench", "out", `store-fewshot-${process.pid}`), args);
}

function hone(method, train, test, seed, threads) {
  const sets = [`data.train=${train}`, `data.test=${test}`, `train.seed=${seed}`, `fewshot.method=${method}`, ...(threads ? [`train.threads=${threads}`] : [])];
  const { result, wall, store } = trainHone(sets);
  const runDir = result.run_dir ?? join(store, "runs", result.run);
  const plan = JSON.parse(readFileSync(join(runDir, "plan.json"), "utf8"));
  const config = JSON.parse(readFileSync(join(runDir, "config.json"), "utf8"));
  return {
    accuracy: result.test.accuracy,
    macro_f1: result.test.macro_f1,
    count: result.test.count,
    wall_s: wall,
    steps: plan.total_steps,
    contrastive_steps: plan.pre_steps ?? 0,
    pairs: plan.pairs ?? 0,
    settings: { epochs: config.train.epochs, lr: config.train.lr, batch_size: config.train.batch_size, fewshot: config.fewshot },
  };
}

/** The first k examples of each label of a DNNC split (the validation a k-shot user could hold out). */
function perLabel(dataset, split, k) {
  const all = readFileSync(jsonl(dataset, split).file, "utf8").trim().split("\n");
  const seen = new Map();
  const rows = all.filter((line) => {
    const { label } = JSON.parse(line);
    seen.set(label, (seen.get(label) ?? 0) + 1);
    return seen.get(label) <= k;
  });
  const file = join(root, "bench", "out", "fewshot-data", `${dataset}-${split}-${k}-per-label.jsonl`);
  writeWhole(file, `${rows.join("\n")}\n`);
  return { file, count: rows.length };
}

/** Hone few-shot with augmentation: the run without generated examples and the run with them,
 * both selected on k validation examples per label; the kept one by validation accuracy. */
function augmented(dataset, k, train, test, seed, threads) {
  const validation = perLabel(dataset, "valid", k);
  const sets = [
    `data.train=${train}`,
    `data.test=${test}`,
    `data.validation=${validation.file}`,
    `train.seed=${seed}`,
    "fewshot.method=fewshot",
    "augment.enabled=true",
    `augment.seed=${seed}`,
    ...(threads ? [`train.threads=${threads}`] : []),
  ];
  const { result, wall, attempts, store } = trainHone(sets, `augment-${dataset}-${k}-${seed}${setsSuffix(extraSets)}`);
  const a = result.augment;
  const config = JSON.parse(readFileSync(join(store, "runs", a.original.run, "config.json"), "utf8"));
  return {
    accuracy: result.test.accuracy,
    count: result.test.count,
    wall_s: wall,
    validation_examples: validation.count,
    ...(attempts > 1
      ? { attempts, note: `stopped by the device call's time limit and resumed (hone train --resume): ${attempts} attempts, wall is their sum` }
      : {}),
    augment: { kept: a.kept, reason: a.reason, original: a.original, augmented: a.augmented, counts: a.counts, by_kind: a.by_kind, generation: a.generation },
    settings: { augment: config.augment, fewshot: config.fewshot, epochs: config.train.epochs },
  };
}

function setfit(train, test, seed, threads) {
  installSetfit(python);
  const model = join(process.env.HONE_MODELS ?? join(process.env.HOME, ".cache", "hone", "models"), "all-minilm-l6-v2");
  const args = { model, train, test, seed, num_iterations: 20, batch_size: 16, epochs: 1, threads: threads ?? cpus().length };
  const r = sh(python, [join(root, "bench", "peers", "setfit_fewshot.py"), JSON.stringify(args)], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, PYTHONPATH: peers, TOKENIZERS_PARALLELISM: "false" },
  });
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1));
  return { ...out, wall_s: r.wall, settings: { num_iterations: 20, batch_size: 16, epochs: 1, head: "LogisticRegression (setfit's default)" } };
}

async function run() {
  const datasets = opt("--datasets", "clinc150,banking77").split(",");
  const shots = opt("--shots", "5,10").split(",").map(Number);
  const seeds = opt("--seeds", "0,1,2").split(",").map(Number);
  const methods = opt("--methods", "finetune,fewshot,zeroshot,setfit").split(",");
  const tag = opt("--tag", "cpu");
  // The GPU each run had (runs of several machines may be merged into one file): its name, or null.
  const smi = spawnSync("nvidia-smi", ["--query-gpu=name", "--format=csv,noheader"], { encoding: "utf8" });
  const gpu =
    smi.status === 0
      ? smi.stdout
          .trim()
          .split("\n")[0]
          .replace(/^NVIDIA /, "")
          .split(" ")[0]
      : null;
  const threads = opt("--threads", null);
  mkdirSync(results, { recursive: true });
  for (const dataset of datasets) {
    const test = jsonl(dataset, "test");
    for (const k of shots) {
      const train = jsonl(dataset, `train_${k}`);
      const file = join(results, `fewshot-${dataset}-${k}-${tag}.json`);
      // Written after every run, keeping earlier runs of other (method, seed) pairs: a long
      // benchmark that stops half-way keeps what it measured.
      const before = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : null;
      const earlier = before?.runs ?? [];
      const command = `${extraSets.length ? `BENCH_SET="${extraSets.join(" ")}" ` : ""}node bench/fewshot.mjs run ${rest.join(" ")}`.trim();
      // Every invocation that wrote runs into the file (a file can grow over several).
      const commands = [...new Set([...(before?.commands ?? (before ? [before.command] : [])), command])];
      const runs = [];
      const save = () => {
        const kept = earlier.filter((e) => !runs.some((r) => r.method === e.method && r.seed === e.seed));
        const record = {
          bench: "fewshot",
          dataset,
          shots: k,
          train_examples: train.count,
          test_examples: test.count,
          runs: [...kept, ...runs],
          command,
          commands,
          machine: {
            host: hostname(),
            cpus: cpus().length,
            cpu: cpus()[0]?.model ?? "",
            memory_gb: Math.round(totalmem() / 2 ** 30),
            threads: threads ?? "all",
          },
          date: new Date().toISOString(),
          versions: { node: process.version, ...([...kept, ...runs].find((r) => r.versions)?.versions ?? {}) },
        };
        writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
      };
      for (const seed of seeds)
        for (const method of methods) {
          if (method === "zeroshot" && seed !== seeds[0]) continue; // nothing random in it
          process.stderr.write(`== ${dataset} ${k}-shot seed ${seed}: ${method}\n`);
          const r =
            method === "setfit"
              ? setfit(train.file, test.file, seed, threads)
              : method === "augment"
                ? augmented(dataset, k, train.file, test.file, seed, threads)
                : hone(method, train.file, test.file, seed, threads);
          process.stderr.write(`   accuracy ${(r.accuracy * 100).toFixed(2)}%, ${r.wall_s.toFixed(1)} s\n`);
          // The encoder's vocabulary rows: all of them, or only the data sets' (bench/gpu/pack_minilm.py).
          runs.push({ method, seed, ...r, ...(gpu ? { gpu } : {}), model_rows: process.env.BENCH_MODEL_ROWS ?? "all" });
          save();
        }
      process.stderr.write(`wrote ${file}\n`);
    }
  }
}

function render() {
  const key = (f) => f.replace(/-(\d+)-/, (_, k) => `-${k.padStart(3, "0")}-`);
  const files = readdirSync(results)
    .filter((f) => /^fewshot-.*\.json$/.test(f))
    .sort((a, b) => key(a).localeCompare(key(b)));
  const NAMES = { finetune: "Hone fine-tuning", fewshot: "Hone few-shot", zeroshot: "Hone zero-shot", setfit: "SetFit (library)" };
  const lines = [
    "<!-- fewshot:start -->",
    "## Few-shot and zero-shot classification",
    "",
    "k examples per intent (the DNNC splits `train_5` / `train_10` of `../shared/data/*/dnnc_format`), no validation split, the full",
    "test set once. Default encoder (all-MiniLM-L6-v2) for every method. Hone fine-tuning: encoder and head on the examples",
    "(10 epochs); Hone few-shot: a contrastive stage of 20 pairs per example (10 similar, 10 not; batch 16, lr 2e-5), then the same",
    "fine-tuning with the head starting from each label's mean embedding; Hone zero-shot: the label names' embeddings, no training;",
    "SetFit 1.2 (PyPI `setfit`): `num_iterations=20` (20 similar and 20 dissimilar pairs per example: twice Hone's pairs), batch 16,",
    "one epoch, its default logistic-regression head. Accuracy: mean ±",
    "standard deviation over the seeds; wall: whole command, mean. Rows on the H200 (`bench/gpu/fewshot.sh`, files tagged h200):",
    "CLINC150 and BANKING77 ran side by side, one process each, so their walls are of two processes sharing one GPU and 16",
    "cores; Hone ran as it does on CUDA by default (bf16, torch.compile, whose first-step compile is in the wall), SetFit with",
    "its defaults; both from the same packed weights (bench/gpu/pack_minilm.py). Rows on the H100 (10-shot seeds 1 and 2, and",
    "the augmentation runs): every (data set, seed, method) in its own process, 12 at once (`SPLIT=1`), so their walls are",
    "of 12 processes sharing one GPU and 16 cores; accuracy does not depend on it.",
    "",
    "| data | shots | method | seeds | test accuracy | wall (s) | machine |",
    "|---|---:|---|---:|---:|---:|---|",
  ];
  const notes = [];
  for (const f of files) {
    const r = JSON.parse(readFileSync(join(results, f), "utf8"));
    for (const method of ["finetune", "fewshot", "zeroshot", "setfit"]) {
      const rs = r.runs.filter((x) => x.method === method);
      if (rs.length === 0) continue;
      const acc = rs.map((x) => x.accuracy * 100);
      // Runs before the GPU was recorded per run: the file's tag says H200.
      const gpus = [...new Set(rs.map((x) => x.gpu ?? (f.includes("-h200") ? "H200" : null)))];
      const machine = gpus[0] ? gpus.map((g) => `1 × ${g}`).join(" / ") : cpuMachine(r);
      lines.push(
        `| ${r.dataset} | ${r.shots} | ${NAMES[method]} | ${rs.length} | ${mean(acc).toFixed(2)}${rs.length > 1 ? ` ± ${spread(acc).toFixed(2)}` : ""} | ${mean(rs.map((x) => x.wall_s)).toFixed(0)} | ${machine} |`,
      );
    }
    for (const x of r.runs.filter((y) => y.from_log)) notes.push(`${r.dataset} ${r.shots}-shot ${NAMES[x.method]}, seed ${x.seed}: ${x.note}`);
    notes.push(
      `${(r.commands ?? [r.command]).map((c) => `\`${c}\``).join("; ")} (${f}, ${r.date.slice(0, 10)}; ${Object.entries(r.versions)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")})`,
    );
  }
  const aug = [];
  const zeroed = [];
  /** Per (data set, shots, machine): the seeds' runs, for the summary rows. */
  const groups = new Map();
  for (const f of files) {
    const r = JSON.parse(readFileSync(join(results, f), "utf8"));
    for (const x of r.runs.filter((y) => y.method === "augment")) {
      const machine = x.gpu ? `1 × ${x.gpu}` : cpuMachine(r);
      // augment.min_confidence (the consistency filter; runs before it existed had none): its own rows.
      const confidence = x.settings?.augment?.min_confidence ?? 0;
      const g = `${r.dataset}|${r.shots}|${confidence}|${machine}`;
      groups.set(g, [...(groups.get(g) ?? []), x]);
      const a = x.augment;
      const pct = (v) => (v === null || v === undefined ? "-" : (v * 100).toFixed(2));
      if (x.note) notes.push(`${r.dataset} ${r.shots}-shot augmentation, seed ${x.seed}: ${x.note}`);
      // Runs before model_rows was recorded: on a GPU, the packed encoder had the data sets' rows only.
      if ((x.model_rows ?? (x.gpu ? "data sets' only" : "all")) !== "all") zeroed.push(`${r.dataset} ${r.shots}-shot seed ${x.seed}`);
      aug.push(
        `| ${r.dataset} | ${r.shots} | ${confidence || "off"} | ${x.seed} | ${pct(a.original.validation)} / ${pct(a.augmented?.validation)} | ${pct(a.original.test)} / ${pct(a.augmented?.test)} | ${a.augmented ? ((a.augmented.test - a.original.test) * 100).toFixed(2) : "-"} | ${a.counts.asked} / ${a.counts.asked - a.counts.kept} / ${a.counts.kept} | ${a.kept} | ${a.generation.seconds.toFixed(0)} s (${a.generation.examples_per_second.toFixed(1)}/s) | ${x.wall_s.toFixed(0)} | ${machine} |`,
      );
    }
  }
  const summary = [...groups].map(([g, xs]) => {
    const [dataset, shots, confidence, machine] = g.split("|");
    const both = xs.filter((x) => x.augment.augmented);
    const change = both.map((x) => (x.augment.augmented.test - x.augment.original.test) * 100);
    const vchange = both.map((x) => (x.augment.augmented.validation - x.augment.original.validation) * 100);
    const pm = (v, digits = 2) => `${mean(v).toFixed(digits)}${v.length > 1 ? ` ± ${spread(v).toFixed(digits)}` : ""}`;
    const kept = xs.filter((x) => x.augment.kept === "augmented").length;
    return `| ${dataset} | ${shots} | ${Number(confidence) || "off"} | ${xs.length} | ${pm(vchange)} | ${pm(change)} | ${mean(xs.map((x) => x.augment.counts.asked)).toFixed(0)} / ${pm(
      xs.map((x) => x.augment.counts.kept),
      0,
    )} | ${kept} of ${xs.length} | ${pm(
      xs.map((x) => x.augment.generation.seconds),
      0,
    )} | ${machine} |`;
  });
  if (aug.length > 0)
    lines.push(
      "",
      "### Augmentation on vs off (Hone few-shot, writer SmolLM2-135M-Instruct)",
      "",
      "One `hone train` with `augment.enabled: true`: the few-shot run without generated examples, then the same run with the",
      "examples that passed the filters (leakage against validation and test, duplicates, the first run confidently disagreeing),",
      "both selected on k validation examples per intent (the first k of each intent in `valid`); the kept run is the one with the",
      "better validation accuracy. Test accuracy is shown for both (measured; not used to decide). Asked / dropped / kept: examples.",
      "Wall: the whole command (both runs, the generation and the screening). Min confidence: `augment.min_confidence`, the",
      "consistency filter (a generated example is kept only if the run without them gives its own label at least that",
      "probability); off: 0, the default.",
      "",
      "| data | shots | min confidence | seeds | validation change (points) | test change (points) | asked / kept | augmented run kept | generation (s) | machine |",
      "|---|---:|---:|---:|---:|---:|---:|---|---:|---|",
      ...summary,
      "",
      (() => {
        const xs = [...groups.values()].flat().filter((x) => x.augment.augmented);
        const lower = xs.filter((x) => x.augment.augmented.validation < x.augment.original.validation).length;
        const change = xs.map((x) => (x.augment.augmented.test - x.augment.original.test) * 100);
        const kept = [...groups.values()].flat().filter((x) => x.augment.kept === "augmented").length;
        return `Reading: in ${lower} of ${xs.length} runs the written examples lowered validation accuracy; the augmented run was kept in ${kept}. Test accuracy with them moved by ${Math.min(...change).toFixed(2)} to ${Math.max(...change).toFixed(2)} points, and the validation guard chose the run the test set would have chosen in ${xs.filter((x) => (x.augment.kept === "augmented") === x.augment.augmented.test > x.augment.original.test).length} of ${xs.length}. The H100 generation times are of 12 processes sharing the GPU.`;
      })(),
      "",
      "Each run:",
      "",
      "| data | shots | min confidence | seed | validation acc, off / on | test acc, off / on | test change (points) | asked / dropped / kept | run kept | generation | wall (s) | machine |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
      ...aug,
    );
  if (zeroed.length)
    notes.push(
      `Augmentation runs ${zeroed.join(", ")}: the encoder carried to the device had only the vocabulary rows the data sets' texts use (bench/gpu/pack_minilm.py), so a generated example's other word pieces read as zero vectors, in its screening and in its training; these rows may understate what the generated examples can add (the CPU rows had every row, and \`bash bench/gpu/fewshot.sh pack-writer\` now carries the whole encoder)`,
    );
  lines.push("", ...notes.map((n) => `- ${n}`), "<!-- fewshot:end -->");
  writeDocSection("fewshot", lines.join("\n"));
}

// Runs of one (data set, shots) that were measured in separate processes (bench/gpu/fewshot.sh
// with SPLIT=1 writes one file per seed list) go into one file: the table's mean is over seeds.
function merge(files, into) {
  for (const f of files) {
    const part = JSON.parse(readFileSync(f, "utf8"));
    const target = join(results, `fewshot-${part.dataset}-${part.shots}-${into}.json`);
    const base = existsSync(target) ? JSON.parse(readFileSync(target, "utf8")) : { ...part, runs: [], commands: [] };
    const runs = [...base.runs.filter((r) => !part.runs.some((p) => p.method === r.method && p.seed === r.seed)), ...part.runs];
    runs.sort((a, b) => a.seed - b.seed);
    const commands = [...new Set([...(base.commands ?? [base.command]), ...(part.commands ?? [part.command])])];
    writeFileSync(target, `${JSON.stringify({ ...base, runs, commands, date: part.date }, null, 2)}\n`);
    process.stderr.write(`merged ${part.runs.length} runs of ${f} into ${target}\n`);
  }
}

if (mode === "run") await run();
else if (mode === "merge")
  merge(
    rest.filter((a) => a.endsWith(".json")),
    opt("--into", "h200"),
  );
render();
