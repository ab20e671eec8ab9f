// A generative run's memory per process, estimated before it starts. It is saved in plan.json,
// shown by `hone train --dry-run`, and set beside the measured peak in report/resources.json, so
// every run on a GPU checks it. Parameter counts come from the safetensors headers (exact, no
// weights read); the rest is arithmetic on the model's config:
//
//   weights      P x (2 bytes for bf16 base weights under an adapter, else 4: fp32 master weights);
//                a 4-bit (nf4) base: its matrices at 4.127 bits, the rest 2 bytes
//   trained      T x (4 weight + 4 gradient + 8 AdamW moments) under an adapter; T x (4 + 8) in full
//                fine-tuning, whose weights are counted above; FSDP divides both by the processes;
//                optimizer_offload keeps the 8 bytes of moments in host memory
//   activations  tokens x layers x b x (6h + 2kv + 4i + r x m) with a gated MLP (2i without): what
//                a decoder layer keeps for its backward pass (the two norms' inputs and outputs, the
//                attention input, q/k/v and output, the MLP's gate, activation, up and product, and
//                each of the m adapted matrices' r-wide x @ A), b = 2 bytes under bf16, 4 in fp32
//                (counted with autograd's saved-tensor hooks: src/generative/memory.test.ts);
//                a checkpointed layer keeps tokens x h x b (its input), plus one layer's worth
//                recomputed at a time (gradient_checkpointing: true = every layer, N = the first N);
//                under an activation budget β < 1 (compiled layers) the rest keep their input plus β
//                of the remainder: the partitioner's budget is that share, an upper bound;
//                tokens = batch_size rows x max_length (packed rows are full), twice for pairs
//   logits       LOGIT_CHUNK-token chunks (engine lm/logp.py): on a GPU chunk x vocab x b (the fused
//                softmax kernel overwrites the chunk's logits with their gradient: the allocator's
//                history of the 8B run holds one 1.05e9-byte block there, 4096 x 128256 x 2), on
//                the CPU chunk x vocab x (b + 4) (the plain expression's fp32 temporaries; not measured)
//
// Not counted: the CUDA context (~0.5 GiB), the allocator's fragmentation (reserved > allocated).
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import type { ResolvedConfig } from "../config/resolve.js";
import { LOGIT_CHUNK } from "../protocol/schema.js";
import type { MemoryEstimate } from "../run/resources.js";

/** Tensor shapes by name from a model folder's safetensors headers (8-byte length, then JSON). */
export function tensorShapes(dir: string): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".safetensors"))) {
    const fd = openSync(join(dir, f), "r");
    try {
      const len = Buffer.alloc(8);
      readSync(fd, len, 0, 8, 0);
      const header = Buffer.alloc(Number(len.readBigUInt64LE()));
      readSync(fd, header, 0, header.length, 8);
      for (const [name, t] of Object.entries(JSON.parse(header.toString("utf8")) as Record<string, { shape?: number[] }>))
        if (name !== "__metadata__" && t.shape) shapes.set(name, t.shape);
    } finally {
      closeSync(fd);
    }
  }
  return shapes;
}

const product = (s: number[]) => s.reduce((a, b) => a * b, 1);

type AdapterShape = { method: string; r: number; target_modules: "all-linear" | string[] };

/** The blocks' weight matrices: every 2-D weight but the embeddings and the output layer (what
 * all-linear adapts, and what a 4-bit base quantizes). */
const blockMatrices = (shapes: Map<string, number[]>) =>
  [...shapes].filter(([name, shape]) => shape.length === 2 && name.endsWith(".weight") && !/embed|lm_head|wte|wpe|shared/.test(name));

/** The matrices an adapter targets. */
function targeted(shapes: Map<string, number[]>, adapter: AdapterShape): number[][] {
  return blockMatrices(shapes)
    .filter(([name]) => adapter.target_modules === "all-linear" || adapter.target_modules.some((t) => name.includes(`.${t}.`)))
    .map(([, shape]) => shape);
}

const adaptedMatrices = (shapes: Map<string, number[]>, adapter: AdapterShape) => targeted(shapes, adapter).length;

/** Parameters an adapter trains: r x (in + out) per targeted matrix, plus DoRA's magnitude vector. */
function adapterParameters(shapes: Map<string, number[]>, adapter: AdapterShape): number {
  return targeted(shapes, adapter).reduce((n, shape) => n + adapter.r * (shape[0]! + shape[1]!) + (adapter.method === "dora" ? shape[0]! : 0), 0);
}

export function estimateMemory(cfg: ResolvedConfig, pairwise: boolean): MemoryEstimate | null {
  const dir = cfg.model.dir;
  const configFile = join(dir, "config.json");
  if (!cfg.lm || !existsSync(configFile)) return null;
  const mc = JSON.parse(readFileSync(configFile, "utf8")) as Record<string, number | string | boolean | undefined>;
  const num = (...keys: string[]) => keys.map((k) => mc[k]).find((v): v is number => typeof v === "number");
  const shapes = tensorShapes(dir);
  const parameters = [...shapes.values()].reduce((a, s) => a + product(s), 0);
  const hidden = num("hidden_size", "n_embd", "d_model") ?? cfg.model.hidden_size;
  const layers = num("num_hidden_layers", "n_layer", "num_layers") ?? cfg.model.num_layers;
  const heads = num("num_attention_heads", "n_head") ?? 1;
  const headDim = num("head_dim") ?? hidden / heads;
  const kv = (num("num_key_value_heads") ?? heads) * headDim;
  const gated = typeof mc.hidden_act === "string" && /silu|swiglu|gelu_pytorch_tanh/.test(mc.hidden_act) && num("intermediate_size") !== undefined;
  const intermediate = num("intermediate_size", "n_inner", "d_ff") ?? 4 * hidden;
  const vocab = num("vocab_size") ?? 0;

  const t = cfg.train;
  const adapter = cfg.lm.adapter;
  const full = adapter.method === "none";
  const trained = full ? parameters : adapterParameters(shapes, adapter);
  const shards = t.fsdp ? (t.processes ?? 1) * (t.nodes?.count ?? 1) : 1;
  const b = t.precision === "bf16" ? 2 : 4;
  // nf4: the blocks' matrices at 4 bits plus their double-quantized scales (~0.127 bits a weight),
  // embeddings and norms in bf16.
  const matrices = blockMatrices(shapes).reduce((a, [, s]) => a + product(s), 0);
  const weights =
    (cfg.lm.base_weights === "nf4" ? (matrices * 4.127) / 8 + (parameters - matrices) * 2 : parameters * (cfg.lm.base_weights === "bf16" ? 2 : 4)) / shards;
  const offload = t.optimizer_offload ?? false;
  const trainedState = (trained * ((full ? 12 : 16) - (offload ? 8 : 0))) / shards;
  const tokens = t.batch_size * cfg.data.max_length * (pairwise ? 2 : 1);
  const adapted = full ? 0 : adaptedMatrices(shapes, adapter) / Math.max(1, layers);
  const perLayer = b * (6 * hidden + 2 * kv + (gated ? 4 : 2) * intermediate + (full ? 0 : adapter.r * adapted));
  const budget = t.activation_budget ?? 1;
  const compiledLayer = hidden * b + budget * (perLayer - hidden * b);
  const checkpointing = t.gradient_checkpointing ?? false;
  // Checkpointed layers keep their input only, and one of them is recomputed at a time.
  const kept = checkpointing === true ? layers : checkpointing === false ? 0 : Math.min(layers, checkpointing);
  const activations = tokens * (kept * hidden * b + (layers - kept) * compiledLayer + (kept > 0 ? perLayer : 0)) + 2 * tokens * hidden * b;
  const logits = Math.min(LOGIT_CHUNK, tokens) * vocab * (t.device === "cuda" ? b : b + 4);
  return {
    weights,
    trained_state: trainedState,
    activations,
    logits,
    total: weights + trainedState + activations + logits,
    inputs: {
      parameters,
      trained_parameters: trained,
      layers,
      hidden,
      kv,
      intermediate,
      gated_mlp: gated,
      vocab,
      tokens_per_micro_batch: tokens,
      bytes_per_activation: b,
      checkpointing,
      optimizer_offload: offload,
      activation_budget: budget,
      shards,
    },
  };
}
