// Benchmark: deploying a trained run. (1) The size / latency / throughput / accuracy trade-off of
// PyTorch fp32 vs ONNX fp32 / fp16 / int8 (`hone export --compare`), (2) Node onnxruntime vs
// Python onnxruntime on the same bundle, token ids, batching and threads, interleaved.
//   node bench/deploy.mjs run <run> [--store DIR] [--repeats 9] [--tag cpu]  -> bench/results/deploy-<tag>.json
//   node bench/deploy.mjs render                                             -> the "deploy" section of docs/benchmarks.md
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { loadResults, machine, root, saveResult, writeDocSection } from "./lib.mjs";

const args = process.argv.slice(2);
const mode = args[0] === "render" || args[0] === "run" ? args.shift() : "run";
const opt = (name, dflt) => (args.includes(name) ? args.splice(args.indexOf(name), 2)[1] : dflt);
const storeArg = opt("--store", undefined);
const repeats = Number(opt("--repeats", "9"));
const tag = opt("--tag", "cpu");
const ref = args[0] ?? "last";
const python = process.env.HONE_PYTHON ?? join(root, ".venv", "bin", "python");
const threads = cpus().length;

async function measure() {
  const { compareDeployments } = await import(join(root, "dist", "deploy", "compare.js"));
  const { load } = await import(join(root, "dist", "deploy", "runtime.js"));
  const { RunStore, storeDir } = await import(join(root, "dist", "store", "store.js"));

  const c = await compareDeployments(ref, { store: storeArg, threads });
  const store = new RunStore(storeDir(storeArg));
  const run = store.findRun(c.run);
  store.close();

  // Node vs Python: the same pre-tokenized test split through the same bundle, interleaved runs.
  const data = join(run.run_dir, "data");
  const readU32 = (f) => {
    const b = readFileSync(f);
    return new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  const tokens = readU32(join(data, "test.tokens.u32"));
  const offsets = readU32(join(data, "test.offsets.u32"));
  const ids = Array.from({ length: offsets.length - 1 }, (_, i) => tokens.subarray(offsets[i], offsets[i + 1]));
  const pairs = [];
  for (const form of ["fp32", "int8"]) {
    const bundle = join(run.run_dir, "export", `onnx-${form}`);
    const model = await load(bundle, { threads, batchSize: 32 });
    await model.logitsOfIds(ids, 32); // warm-up
    const node = [];
    const py = [];
    const nodePass = async () => {
      const t0 = performance.now();
      await model.logitsOfIds(ids, 32);
      node.push(ids.length / ((performance.now() - t0) / 1000));
    };
    const pythonPass = () => {
      const r = spawnSync(
        python,
        [join(root, "bench", "peers", "ort_python.py"), bundle, join(data, "test.tokens.u32"), join(data, "test.offsets.u32"), "32", String(threads), "1"],
        { encoding: "utf8" },
      );
      if (r.status !== 0) throw new Error(r.stderr);
      py.push(JSON.parse(r.stdout).texts_per_s);
    };
    // Pairs of adjacent passes, the order alternating: the machine's speed drifts (a shared VM
    // varies by 1.5x between minutes), so only passes close in time compare.
    for (let k = 0; k < repeats; k++) {
      if (k % 2 === 0) {
        await nodePass();
        pythonPass();
      } else {
        pythonPass();
        await nodePass();
      }
    }
    await model.close();
    const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    pairs.push({
      form,
      node: med(node),
      python: med(py),
      ratio: med(node.map((v, k) => v / py[k])),
      min: Math.min(...node.map((v, k) => v / py[k])),
      max: Math.max(...node.map((v, k) => v / py[k])),
    });
  }

  const versions = spawnSync(python, ["-c", "import torch, onnxruntime; print('torch', torch.__version__, '/ onnxruntime', onnxruntime.__version__)"], {
    encoding: "utf8",
  }).stdout.trim();
  saveResult(`deploy-${tag}.json`, {
    bench: "deploy",
    command: `node bench/deploy.mjs run ${ref === "last" ? "<run>" : ref}`,
    run: c.run,
    run_name: run.name ?? "",
    date: new Date().toISOString(),
    machine: machine("cpu"),
    versions,
    threads,
    repeats,
    compare: c,
    node_vs_python: pairs,
  });
}

function render() {
  const r = loadResults(/^deploy-.*\.json$/).at(-1);
  if (!r) return;
  const c = r.compare;
  const pct = (v) => `${(v * 100).toFixed(2)}%`;
  const ref32 = c.rows[0];
  const t1 = [
    "| form | runtime | size | p50 batch 1 | p99 batch 1 | texts/s at batch 32 | test accuracy | vs PyTorch |",
    "|---|---|---|---|---|---|---|---|",
    ...c.rows.map(
      (x, i) =>
        `| ${x.form} | ${x.runtime} | ${(x.bytes / 2 ** 20).toFixed(1)} MiB | ${x.p50_ms.toFixed(2)} ms | ${x.p99_ms.toFixed(2)} ms | ${x.throughput.toFixed(0)} | ${pct(x.accuracy)} | ${i === 0 ? "reference" : `${((x.accuracy - ref32.accuracy) * 100).toFixed(2)} points, p50 ${(ref32.p50_ms / x.p50_ms).toFixed(1)}x lower`} |`,
    ),
  ];
  const t2 = [
    "| bundle | Node onnxruntime texts/s (median) | Python onnxruntime texts/s (median) | Node / Python, median of paired passes | range of the pairs |",
    "|---|---|---|---|---|",
    ...r.node_vs_python.map(
      (p) => `| ONNX ${p.form} | ${p.node.toFixed(0)} | ${p.python.toFixed(0)} | ${p.ratio.toFixed(2)} | ${p.min.toFixed(2)}-${p.max.toFixed(2)} |`,
    ),
  ];
  const m = r.machine;
  const section = [
    "<!-- deploy:start -->",
    "## Deploy: size / latency / accuracy, and Node vs Python inference",
    "",
    `Command: \`${r.command}\` on run \`${c.run}\` (${r.run_name}), test split of ${c.test_count} texts; \`node bench/deploy.mjs render\` for the tables (raw: \`bench/results/${r.file}\`)  `,
    `Machine: ${m.cpus} × ${m.cpu}, ${m.ram_gib} GiB RAM, ${r.versions}, onnxruntime-node 1.30, Node ${m.node}  `,
    `Date: ${r.date.slice(0, 10)}`,
    "",
    `Latency: ${c.latency_samples} single-text calls after 5 warm-up calls; ONNX rows are timed in Node around \`predict\`'s work including tokenization, the PyTorch row inside the engine without it. Throughput: the whole test split, longest first, batches of ${c.batch_size}, ${c.threads} threads everywhere. Accuracy: the test split, decoded as the run decodes (PyTorch: the run's own test metrics).`,
    "",
    ...t1,
    "",
    `Node vs Python on the same bundle and onnxruntime version: the same token ids (the run's test shard), batching (longest first, 32) and threads; ${r.repeats} pairs of adjacent passes (order alternating) after a warm-up pass; the ratio is the median of the pairs' ratios, since the shared machine's speed drifts between minutes.`,
    "",
    ...t2,
    "<!-- deploy:end -->",
  ].join("\n");
  writeDocSection("deploy", section);
  console.log(`${t1.join("\n")}\n\n${t2.join("\n")}`);
}

if (mode === "run") await measure();
render();
