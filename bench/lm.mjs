// Generative training benchmarks, written into docs/benchmarks.md:
//   node bench/lm.mjs packing [--data-root ../shared/data]   # CLINC150 as chat: padding with and without packing
//                                                              # (-> bench/results/lm-packing-clinc150.json)
//   node bench/lm.mjs packing-render                           # that section again from its raw file
//   node bench/lm.mjs record <lm_speed.json>...                # the GPU speed table from device runs of
//                                                              # bench/gpu/lm_speed.py (which prints each too)
//   node bench/lm.mjs ab <lm_speed.json>                       # an A/B of two engine commits in one device run
//   node bench/lm.mjs shards [--out .carry/clinc-chat]         # CLINC150 as chat, tokenized and packed as
//                                                              # `hone train` does, for lm_speed.py --data on the device
//   node bench/lm.mjs real <lm_speed.json>...                  # the packed-real-data table from those runs
import * as require_fs from "node:fs";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadResults, machine, root, saveResult } from "./lib.mjs";

const [what, ...rest] = process.argv.slice(2);
const opt = (name, dflt) => (rest.includes(name) ? rest[rest.indexOf(name) + 1] : dflt);

function writeSection(tag, lines) {
  const docPath = join(root, "docs", "benchmarks.md");
  let doc = existsSync(docPath) ? readFileSync(docPath, "utf8") : "# Benchmarks\n";
  const [start, end] = [`<!-- ${tag}:start -->`, `<!-- ${tag}:end -->`];
  const section = [start, ...lines, end].join("\n");
  doc = doc.includes(start) ? doc.slice(0, doc.indexOf(start)) + section + doc.slice(doc.indexOf(end) + end.length) : `${doc}\n${section}\n`;
  writeFileSync(docPath, doc);
  console.log(lines.join("\n"));
}

const pct = (x) => `${(100 * x).toFixed(1)}%`;
const gib = (x) => (x ? x.toFixed(1) : "-");
const short = (f) => f.replace(/^.*bench\/results\//, "bench/results/");
/** lm_speed.py --engines names a run of an A/B "run@engine#round"; other runs are named "run". */
const abKey = (key) => {
  const [, run, engine, round] = /^([^@]*)(?:@([^#]*)#(\d+))?$/.exec(key);
  return { run, engine, round: round === undefined ? undefined : Number(round) };
};

// #23's device runs (bench/gpu/lm_real.sh): packed real data, Unsloth beside Hone, QLoRA, the 8B
// shape. Every row names its raw file; ratios are taken within one shape and one device session.
const REAL_RUNS = {
  hone_lora_compile_packed: "Hone, packed rows, each sequence attending to itself alone",
  hone_lora_compile_packed_mask: "Hone, packed rows, transformers' block mask (the path before)",
  hone_lora_compile_packed_ckpt_half: "Hone, packed rows, the first half of the layers checkpointed",
  hone_lora_compile_packed_b80: "Hone, packed rows, activation budget 0.8",
  hone_lora_compile_packed_b60: "Hone, packed rows, activation budget 0.6",
  hone_lora_compile_packed_b40: "Hone, packed rows, activation budget 0.4",
  unsloth_lora_packed: "Unsloth, the same packed rows (restarting position ids)",
  hone_lora_compile: "Hone, one conversation a row (padded)",
  unsloth_lora: "Unsloth, one conversation a row (padded)",
  hf_lora_liger: "HF + PEFT + Liger kernels, padded",
  hf_lora_liger_packed: "HF + PEFT + Liger kernels, packed rows (transformers' block mask)",
  hf_lora_compile: "HF + PEFT, each decoder layer compiled, padded",
  hf_lora_compile_packed: "HF + PEFT, each decoder layer compiled, packed rows",
  hf_lora_packed: "HF + PEFT, packed rows (transformers' block mask)",
  hf_lora: "HF + PEFT, padded",
};
/** Attention's training FLOPs a token (PaLM appendix B): scores and values, 2 matmuls forward and 4
 * backward of 2 x width x sequence each, in every layer; the backward is the same under LoRA, since
 * attention has no weights. Over the whole sequence; causal kernels compute about half. */
const attentionFlops = (c, seq) => 12 * c.num_hidden_layers * c.hidden_size * seq;
const ROWS_RUNS = {
  hone_lora_compile: "Hone LoRA (compiled layers)",
  hone_lora_compile_b80: "Hone LoRA, activation budget 0.8",
  hone_lora_compile_b60: "Hone LoRA, activation budget 0.6",
  hone_lora_compile_ckpt_half: "Hone LoRA, the first half of the layers checkpointed",
  hone_lora_compile_ckpt: "Hone LoRA, every layer checkpointed",
  hone_full_compile: "Hone full fine-tuning (fp32 master weights and AdamW state on the GPU)",
  hone_full_compile_offload: "Hone full fine-tuning, AdamW state offloaded to the host",
  unsloth_lora: "Unsloth LoRA",
  hone_qlora_compile: "Hone QLoRA (nf4 base, compiled layers)",
  unsloth_qlora: "Unsloth QLoRA",
  hf_qlora: "HF + PEFT QLoRA",
};

/** A Llama-architecture model folder holding what the estimate reads: config.json and a
 * safetensors header with every tensor's shape (the tensors themselves a sparse run of zeros). */
function writeShapeOnly(dir, c) {
  const { mkdirSync } = require_fs;
  mkdirSync(dir, { recursive: true });
  const [h, i, V, L] = [c.hidden_size, c.intermediate_size, c.vocab_size, c.num_hidden_layers];
  const kv = (c.num_key_value_heads * h) / c.num_attention_heads;
  const shapes = { "model.embed_tokens.weight": [V, h], "model.norm.weight": [h] };
  if (c.tie_word_embeddings === false) shapes["lm_head.weight"] = [V, h];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    Object.assign(shapes, {
      [`${p}.self_attn.q_proj.weight`]: [h, h],
      [`${p}.self_attn.k_proj.weight`]: [kv, h],
      [`${p}.self_attn.v_proj.weight`]: [kv, h],
      [`${p}.self_attn.o_proj.weight`]: [h, h],
      [`${p}.mlp.gate_proj.weight`]: [i, h],
      [`${p}.mlp.up_proj.weight`]: [i, h],
      [`${p}.mlp.down_proj.weight`]: [h, i],
      [`${p}.input_layernorm.weight`]: [h],
      [`${p}.post_attention_layernorm.weight`]: [h],
    });
  }
  let at = 0;
  const header = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: "BF16", shape, data_offsets: [at, at + bytes] };
    at += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(join(dir, "model.safetensors"), Buffer.concat([len, json]));
  require_fs.truncateSync(join(dir, "model.safetensors"), 8 + json.length + at); // sparse: zeros, no disk
  writeFileSync(join(dir, "config.json"), JSON.stringify({ model_type: "llama", architectures: ["LlamaForCausalLM"], hidden_act: "silu", ...c }));
  // Any tokenizer will do: the estimate reads none of it, but a model folder must have one.
  const smol = join(process.env.HONE_MODELS ?? join(homedir(), ".cache", "hone", "models"), "smollm2-135m-instruct");
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) require_fs.copyFileSync(join(smol, f), join(dir, f));
}

// What a raw file's numbers need said beside them (by file).
const REAL_NOTES = {
  "bench/results/lm-real-llama-1b-h200-run1.json":
    "Reading run 1 (`bash bench/gpu/lm_real.sh 1`; the Hone runs' progress events: `bench/results/lm-real-llama-1b-h200-run1-progress.json`): Hone's decoder layers were compiled for the first batch's shapes and recompiled each time another size began to vary (row width, sequences a row, the longest sequence). Packed, that was three compiles of 15-30 s, the last inside the timed steps, so its 4,774 tokens/s measures compilation, not training: between the compiles its progress shows 5 steps (82k real tokens) in 1.0 s and, after the last, 3 steps in 0.4 s, i.e. roughly 77-126k tokens/s, too short a window to be a result. Unpacked, the recompile came before the timed steps (6-16): 38,857 tokens/s, 1.57x HF + PEFT padded (24,726) and 1.09x HF + PEFT packed (35,691), at 38.6 GiB against 83.3 and 52.3 (the peers compute every position's logits, Hone only the learnt tokens'). Since then the engine compiles its layers for symbolic shapes from the start when the rows differ in length (`lm.compile_decoder(model, varying=...)`); the device was not lent again this session, so packed Hone and the Unsloth peer on these data are still to be measured (`bash bench/gpu/lm_real.sh 5`, then `2`). Losses: Hone's are read at its progress events (about once a second), the peers' every step, so only the last (step 16 on both sides) compares: packed 7.6697 (Hone) and 7.7052 (HF), unpacked 7.7051 and 7.7299.",
};

REAL_NOTES["bench/results/lm-real-llama-1b-h100-run3.json"] =
  "Reading run 3 (one H100, three adjacent calls on the same warm machine, 2026-12-05; the carry as `bash bench/gpu/lm_real.sh 6` sets it up): `lm_speed.py --data .carry/clinc-chat --steps 16 --warmup 8 --only hone_lora_compile_packed,hf_lora_packed`, then `--steps 16 --warmup 6 --only unsloth_lora,unsloth_lora_packed` (Unsloth 2026.10.9 from the wheels of `bench/gpu/pack-peers.sh`, no xformers: SDPA; it needs bitsandbytes even for LoRA), then `--steps 16 --warmup 8 --only hone_lora_compile_packed_ckpt_half`. " +
  "Packed Hone (variable-length attention, layers compiled for symbolic shapes): 101,545 real tokens/s, **1.32x Unsloth on the same packed rows** (77,146) and 4.12x HF + PEFT packed (24,621), at 24.4 GiB against Unsloth's 18.9: faster, not yet in less memory. With the first 8 of 16 layers checkpointed: 79,963 tokens/s (1.04x Unsloth) at 14.2 GiB (0.75x its memory). The 1.25x-at-no-more-memory target lies between the two settings (fewer checkpointed layers) and was not measured. " +
  "The symbolic-shape compile held on the GPU, but its progress events show one more recompile of ~27 s between steps 7 and 13 (step 1 at 69.5 s, 7 at 70.6 s, 13 at 98.0 s); the timed window is steps 13-24 (11 steps in 1.8 s), after it. " +
  "Losses: step 1 is 10.9398 (Hone), 10.9397 (HF packed), 10.9778 (Unsloth padded, other batches) and 11.0900 (Unsloth packed): on the same rows Unsloth's first loss differs from HF's by 0.15, so whether it keeps packed sequences apart (or counts the loss over the same tokens) is not established; its padded run, where nothing can leak, makes 58,738 tokens/s at 33.5 GiB.";

REAL_NOTES["bench/results/lm-real-llama-1b-h200-run4.json"] =
  "Reading run 4 (one H200, one call, 2026-12-05: `bash bench/gpu/lm_real.sh 9` at 5f2dc2f, `train.activation_budget` 0.8 beside the default; each Hone run's progress events are in the raw file). " +
  "Unsloth on the packed rows: 81,667 tokens/s at 18.94 GiB; Hone packed 106,197 at 24.43 GiB (1.30x); Hone with activation budget 0.8 **18.74 GiB, less than Unsloth's**, but its 7,242 tokens/s is not a speed: TORCH_LOGS=recompiles showed every layer compiling again at step 9-13, inside its timed window (in the default run the same recompile fell before it). Its progress events after the recompile read 109,589 tokens/s (steps 13-20) against 110,254 for the default run over the same steps: the budget cost no measurable speed. " +
  "The recompile's cause (same log): torch's duck sizing gave the first batch's row width (2048) and the model's width (2048) one symbol, so the 'symbolic' length was fixed at 2048 and the first batch of 2040-token rows compiled again. Fixed in the engine after this run (no duck sizing when compiling for varying shapes; engine test `test_varying_rows_as_wide_as_the_model_compile_once`).";

REAL_NOTES["bench/results/lm-real-llama-1b-h100-run5.json"] =
  "Reading run 5 (one H100, one call, 2026-12-05: `T=400 bash bench/gpu/lm_real.sh 9` at dcee9bc, after the duck-sizing fix; the budget-0.4 run did not fit in the call's limit). " +
  "Only step 1 compiled twice (TORCH_LOGS=recompiles: layer 0's input needs no gradient, the others' do); no recompile in any timed window. " +
  "Unsloth on the packed rows: 75,332 tokens/s at 18.94 GiB. Hone packed: 95,327 at 24.42 GiB (1.27x). **Activation budget 0.8: 93,877 tokens/s (1.246x Unsloth) at 18.72 GiB (0.99x its memory)**; budget 0.6: 90,898 (1.21x) at 16.31 GiB (0.86x). " +
  "So at no more memory than Unsloth Hone is 1.246x here, under the issue's 1.25x (and 1.209x over run 6's longer window). The timed windows are short (progress comes once a second: 11-16 steps in 2-3 s): the per-second readings of budget 0.8 (95.1k, 94.6k, 91.1k) and of the default (96.1k, 96.7k, 94.0k) overlap, so the budget's cost is within this run's noise. " +
  "Unsloth's raw file did not come back (the device returns at most 8 files a call): its row is the JSON line lm_speed.py printed, its losses the first and last of the table it printed.";

REAL_NOTES["bench/results/lm-real-llama-1b-h100-run6.json"] =
  "Reading run 6 (one H100, one call, 2026-12-05: `STEPS=30 T=200 ONLY=hone_lora_compile_packed_b80 bash bench/gpu/lm_real.sh 9`): run 5's pair again over a longer timed window, 30 steps on both sides (Hone: 26 between its progress events, about 4.5 s). " +
  "Unsloth 77,594 tokens/s at 18.94 GiB; Hone with activation budget 0.8 93,784 at 18.72 GiB: **1.209x at 0.99x Unsloth's memory**. Over the longer window Unsloth read 3% faster than in run 5 and Hone the same, so run 5's 1.246x was partly the short window's noise: the 1.25x-at-no-more-memory target is not met on packed real data either. One recompile only, at step 1 (TORCH_LOGS=recompiles). Losses at the last step: 5.1932 (Unsloth) and 5.4085 (Hone) from first losses of 11.0900 and 10.9388; they differ from the first step on, as in run 3 (see its note).";

REAL_NOTES["bench/results/lm-real-llama-1b-h100-run7.json"] =
  "Reading run 7 (one H100, one call, 2026-12-06: `bash bench/gpu/lm_real.sh 12`, after the frozen-weight fix b411a62): Unsloth on the packed rows 77,093 tokens/s at 18.94 GiB; Hone with activation budget 0.8 93,601 at **17.48 GiB** (18.72 before the fix): **1.214x at 0.92x Unsloth's memory**. The speed target is still not met; memory now has 1.5 GiB to spare at this budget. " +
  "Where a packed step's time goes (`bench/gpu/lm_profile.py --data .carry/clinc-chat`, the engine's code path on the packed rows, collated each step; one H100, 2026-12-06; raw `bench/results/lm-profile-h100-lora-packed.json` and, for random full rows in the same call, `-rows.json`): GPU busy 161.2 ms of a 165.8 ms step (collation 5.3 ms of host time, overlapped), matmuls 98.7 ms (~81% of the measured 788 TFLOP/s for the layers' 4 x parameters FLOPs a token), fused elementwise 32.1 (SiLU's forward and backward at the H100's memory bandwidth), **attention 26.7 ms**: as much as causal attention over whole 2048-token rows (25.2 ms in the full-rows profile, cuDNN), though these conversations average 44 tokens. The variable-length kernel computes at least one 128 x 128 tile per conversation and head, and its backward accumulates dq in fp32 buffers padded by 128 rows per sequence (`flash_bwd_convert_dq` 2.9 ms, `dot_do_o` 3.2 ms a step). " +
  "Tried: FlexAttention with the batch's block-diagonal causal block mask (`HONE_PACKED_ATTENTION=flex`, `engine/hone_engine/lm/varlen.py`: the block layout built on the CPU with the batch, several conversations to a tile; 244 tiles a step and head against the variable-length kernel's 283). Same H100, adjacent runs (`-packed-flex.json`, `-packed-varlen.json`): 158.6 against 162.2 ms of GPU time, 100,287 against 96,733 tokens/s over 8 steps (+3.7%), peak 22.92 against 23.17 GiB. Its attention was no cheaper (26.4 ms: its kernels too are short of work per tile); the gain is the layers' transposes and rotary embedding fused into its kernels (fused elementwise 28.1 against 32.1 ms). Not made the default: in the engine at budget 0.8 it did not finish 38 steps within 145 s (the variable-length run took 122 s, its first step at 93 s), so its compile time and the 30-step speed are unmeasured, and only its outputs are checked against masked SDPA, on the CPU: FlexAttention has no CPU backward, and the GPU run of the test that also checks its gradients failed before comparing anything (the test compiled for symbolic head sizes, which Inductor could not lower; it now compiles for one shape). Next: that test and `lm_real.sh 12` on a GPU; 64-row tiles (a quarter of the work a tile) for short conversations. (Run 8 found the flex path wrong on the GPU from the second batch on, so this +3.7% was measured on a wrong computation; it is taken out: see the run-8 note.) " +
  "Random full rows in the same call (`-rows.json`): the GPU is busy 190.6 ms of a 196.8 ms step. Part of the 6.2 ms it waits is a host sync: with one sequence a row, transformers derived position ids and checked them for packed sequences on every forward pass, reading a device value back. The engine now says the attention is causal outright (`varlen.CAUSAL`; engine test: the check never runs, the log-probabilities are the model's own); measured in rows run 8: no change beyond noise.";

REAL_NOTES["bench/results/lm-real-llama-1b-h100-run8.json"] =
  "Reading runs 8 and 9 (one H100 each, two calls on two machines, 2026-12-06: `T=240 bash bench/gpu/lm_real.sh 12` and `T=200 ...`; 30 timed steps a run). " +
  "Unsloth on the packed rows: 80,055 and 79,994 tokens/s at 18.94 GiB (77,093 in run 7 on another machine); Hone with activation budget 0.8 and the variable-length kernel: 93,323 and 95,469 at 17.48 GiB: **1.166x and 1.193x at 0.92x Unsloth's memory**. Over runs 6-9 the ratio was 1.166-1.214x: the 1.25x target is not met on packed real data. Losses as in runs 6-7 (10.9388 -> 5.4085, Unsloth 11.0900 -> 5.1941). " +
  "**FlexAttention, taken out.** The same calls ran the engine with `HONE_PACKED_ATTENTION=flex` (rows padded to whole 128-token blocks, so every full batch had one shape and the layers compiled once: it finished in 104 s, first step at 81 s): 95,606 and 97,331 tokens/s, but its loss after 38 steps was 5.6025 against 5.4085. Its GPU test, first run here, failed on the outputs, and `bench/gpu/flex_check.py` (one compiled function, two batches of the same shapes in turn, against SDPA with each batch's dense mask) showed why: the first batch matches (outputs 0.004, dq 0.008 off, bf16), **the second is computed with the first batch's mask** (outputs 0.33, dq 0.76 off), with the block mask built by `BlockMask.from_kv_blocks` from the layout built on the CPU, whether its sequence numbers were a new tensor each batch (run 8) or one buffer rewritten in place (run 9). On the CPU both batches match. Whether torch's own `create_block_mask` per batch behaves the same on this torch was not measured (the session's device time ran out; `flex_check.py` now runs both). So the +3.7% of run 7's profile was measured on a wrong computation; the engine's FlexAttention path and its `HONE_PACKED_ATTENTION=flex` switch are removed, and packed rows attend through the variable-length kernel only. 64-row flex tiles did not compile for the engine's symbolic shapes (Inductor lowering error) and were not measured.";
REAL_NOTES["bench/results/lm-real-llama-1b-h100-run9.json"] = "Run 9: see the run-8 note.";
REAL_NOTES["bench/results/lm-real-llama-1b-h100-run10.json"] =
  'Run 10 (one H100, one call, 2026-12-07: `ENGINES="landed=$PWD/engine" ROUNDS=1 T=150 bash bench/gpu/lm_real.sh 13` at 4178c61, the engine as landed in d0613e2 and a9fa23b: packed runs of short sequences on one batch shape, FlexAttention with 64 x 64 forward tiles). Unsloth on the packed rows: 81,439 tokens/s at 18.94 GiB (19.51 reserved). Hone, activation budget 0.8: 103,652 at 17.48 GiB (18.31 reserved). **1.273x Unsloth at 0.92x its memory, both in one call**: the packed-data target is met as landed, as calls 8-9 measured it from a patch (1.271-1.275x, adjacent calls). The first step came at 24.1 s (compiling). Losses 10.9389 -> 5.4084 (Unsloth 11.0900 -> 5.1940, as in runs 6-9). ' +
  "The same call ran the engine's GPU tests. The new one-shape training test failed before comparing anything: its reference run (uncompiled, fp32 weights under bf16 autocast) reached Flash's variable-length kernel with fp32 queries and keys, which it refuses. The rotary embedding's fp32 cos and sin had lifted them back from the projections' bf16. Full fine-tuning (fp32 master weights, bf16 autocast) of packed data on a GPU would have failed the same way; LoRA runs load their base in bf16 and never met it. Fixed after the call: `varlen.attention` casts queries and keys to the values' dtype, as SDPA does under autocast, and sends anything but 16-bit inputs to the masked path (CPU test `test_packed_attention_takes_queries_lifted_to_fp32_by_rotary_embeddings`, which fails without the fix). The call that was to run the GPU tests again after the fix brought back no output in its time limit (most likely the tests' compile workers kept the pipe to `tail` open past `timeout`; `lm_real.sh` now writes the tests' output to a file), and the session's device time was then spent: the GPU-only training test has still not run to its end on a GPU (it did in run 11: 9 of 9 packed-attention tests passed on an H100).";
REAL_NOTES["bench/results/lm-real-smollm2-h100-run10.json"] =
  "SmolLM2-135M (run 10, the same H100 and call, after the 1.24B pair: `SHAPE=smollm2-135m bash bench/gpu/lm_real.sh 18` at 4178c61, the data's own model config with random weights; 40 timed steps, 8 warm-up; Unsloth and HF + Liger each in an invocation of its own, since both patch transformers). **Packed rows: Hone 226,340 tokens/s, 1.862x Unsloth on the same rows (121,585) and 3.47x the fastest HF + PEFT (eager with transformers' block mask, 65,245; with Liger 54,006), but at 9.15 GiB against Unsloth's 7.61 (1.20x)**: at the default activation budget Hone holds more on this small model. The budget-0.8 run that was to measure the memory side did not run (device time), so on SmolLM2 the target's memory half is not met as measured. One conversation a row, padded: Hone 133,728 (its readings vary with each step's real tokens: 97-184k), 1.102x Unsloth's 121,324, at 15.34 against 14.14 GiB; HF + Liger 61,634 at 25.60; HF eager 51,728 at 44.82; HF with each decoder layer compiled 34,992 at 35.27, slower than eager here (why, recompiles for new widths or the compiled layers' cost at width 576, was not measured); its packed run did not finish inside the call. Losses at step 48, the same rows in the same order: Hone packed 7.8520 against HF packed 7.8539, Hone padded 7.7935 against HF 7.7948 and Unsloth 7.7938; Unsloth packed 7.9155, from a first loss of 11.0911 against HF's 10.9772 (as on the 1.24B shape).";

REAL_NOTES["bench/results/lm-real-llama-1b-h100-run11.json"] =
  "Run 11 (one H100, two adjacent calls on the same warm machine, 2026-12-07, at 6dbd42e: `SHAPE=llama-1b STEPS=24 UNSLOTH=unsloth_lora_packed LIGER=hf_lora_liger_packed,hf_lora_liger REST=hone_lora_compile_packed_b80,hone_lora_compile,hf_lora_packed,hf_lora_compile T=240 bash bench/gpu/lm_real.sh 18`, then `UNSLOTH=unsloth_lora LIGER= REST=hone_lora_compile_packed,hf_lora T=200` with the same shape and steps; `lm_real.sh 17` ran between them; 24 timed steps after 8 warm-up; each peer that patches transformers in an invocation of its own). " +
  "**Packed rows, in one call: Hone at activation budget 0.8 102,372 tokens/s at 17.48 GiB, Unsloth 79,247 at 18.94: 1.292x at 0.92x its memory** (run 10, another machine: 1.273x); 2.68x the fastest HF + PEFT packed (Liger, 38,205 at 37.99 GiB; eager with transformers' block mask 31,847 at 52.34). At the default budget (second call) Hone made 103,250 at 22.92 GiB. " +
  "One conversation a row, padded: Hone 64,137 at 37.40 GiB, 1.060x Unsloth's 60,506 at 33.50 (faster, in more memory: padded rows are not the layout Hone trains real data in) and 1.56x the fastest HF + PEFT (each layer compiled, 41,140 at 63.02; Liger 28,717 at 58.86); HF + PEFT eager did not fit the H100 (out of memory at 77.7 GiB: it computes every position's logits; 83.3 GiB on the H200 of run 1). " +
  "Losses after 32 steps: Hone packed 6.1219 (budget 0.8) and 6.1217 (default) against HF packed 6.1744 and Liger packed 6.1713 from the same first loss (10.939); Unsloth packed 11.0900 -> 5.7966, whose first loss differs from HF's on the same rows, as in every run since run 3.";
REAL_NOTES["bench/results/lm-real-smollm2-h100-run11.json"] =
  "SmolLM2-135M, run 11 (one H100, one call, 2026-12-07, at 6dbd42e: `SHAPE=smollm2-135m UNSLOTH=unsloth_lora_packed LIGER= REST=hone_lora_compile_packed_b80,hone_lora_compile_packed,hf_lora_compile_packed T=200 bash bench/gpu/lm_real.sh 18`, 40 timed steps, 8 warm-up: the memory half that run 10 left unmeasured). **Packed rows: Hone at activation budget 0.8 230,165 tokens/s at 6.76 GiB against Unsloth's 95,152 at 7.61: 2.42x at 0.89x its memory**; at the default budget 257,448 at 9.15 GiB (1.20x Unsloth's memory, as in run 10). So on SmolLM2 too the target holds, at budget 0.8. Unsloth read 22% slower than in run 10 on another H100 (121,585); against that number the budget-0.8 run would still be 1.89x. HF + PEFT with each decoder layer compiled, packed, made 14,155 at 23.44 GiB (below HF eager packed of run 10, 65,245: compiled layers on rows of changing width; not investigated further). Losses at step 48: Hone 7.8526 (budget 0.8) and 7.8520 against HF compiled 7.8526 from the same first loss (10.979); Unsloth 11.0911 -> 7.9155. " +
  "The same call ran this engine's packed-attention tests on the GPU first (`T=170 bash bench/gpu/lm_real.sh t`: `test_lm.py -k \"varlen or flex or packed or lifted\"`): **9 of 9 passed** in 102 s, among them the one-shape FlexAttention training run against the uncompiled variable-length run, which had never run to its end on a GPU, and queries lifted to fp32 by the rotary embedding (the autocast fix of run 10's note) on both paths; the test names are in the raw file.";

// What a random-rows file's numbers need said beside them (by file).
const ROWS_NOTES = {
  "bench/results/lm-rows-llama-1b-h100-run5.json":
    "Run 5 (one H100, one call, 2026-12-05: `T=380 bash bench/gpu/lm_real.sh 10`). LoRA: Hone 82,987 tokens/s at 24.89 GiB (1.14x Unsloth's 72,743 at 19.25); with activation budget 0.8 82,287 at 19.02 GiB (**1.13x at 0.99x Unsloth's memory**). QLoRA: Hone 75,503 at 21.01 GiB, 1.05x Unsloth's QLoRA (71,874 at 17.90): faster, in 1.17x its memory. The 1.25x target on full rows is not met: a budget lowers memory, not time. MFU is not given: this call measured no peak. Unsloth's rows: the JSON lines lm_speed.py printed (its raw file did not come back; losses from its table).",
  "bench/results/lm-rows-llama-1b-h100-run8.json":
    "Run 8 (one H100, one call, 2026-12-06: `bash bench/gpu/lm_real.sh 10`, after the frozen-weight fix b411a62 and `varlen.CAUSAL`). LoRA: Hone 82,513 tokens/s at 23.63 GiB (1.144x Unsloth's 72,148 at 19.25); with activation budget 0.8 81,996 at **17.78 GiB** (19.02 in run 5): **1.137x at 0.92x Unsloth's memory**. QLoRA: Hone 76,101 at 21.01 GiB, 1.061x Unsloth's QLoRA (71,698 at 17.90), in 1.17x its memory. Removing the per-step host sync on rows of one sequence (`varlen.CAUSAL`) changed nothing measurable: 82,513 against run 5's 82,987 on another machine (the GPU's 6.2 ms a step idle in the profile is not that sync's alone). The 1.25x target on full rows is not met: it needs ~90.2k tokens/s, a step of ~182 ms against the profile's 196.8 (matmuls 125.5 at ~81% of the measured peak, fused elementwise 28.1, attention 25.2), so ~15 ms less outside the matmuls.",
  "bench/results/lm-rows-llama-1b-h100-run11.json":
    "Run 11 (one H100, one call, 2026-12-07: `ROUNDS=2 STEPS=24 T=330 bash bench/gpu/lm_real.sh 17`, between the two calls of the packed-data run 11). Unsloth LoRA 72,184 tokens/s at 19.25 GiB; Hone at activation budget 0.8, this engine: 81,442 and 81,451 at 17.78 GiB (**1.128x at 0.92x Unsloth's memory**); the same engine with Inductor's coordinate-descent tuning of its fused kernels' block sizes (`bench/patches/coordinate-descent.patch`, engine `cd`): 81,155 and 81,826, no difference beyond the rounds' spread, the same loss to 4 decimals (12.1764). Not adopted. The 1.25x target on full rows stays unmet: on this machine it needs 90.2k tokens/s, a step of 181.6 ms against 201.2. Run 6's profile (`bench/results/lm-profile-h100-lora-rows-6.json`) puts 158.1 ms of the 192.9-ms GPU step in work that already runs on the best kernels the device has (matmuls 127.3 at ~81% of the measured bf16 peak, ~10.5 ms of them LoRA's thin memory-bound products; cuDNN attention 25.4; fused cross-entropy 5.0; optimizer 0.4) and ~35 ms in fused elementwise kernels (SiLU forward and backward, norms, rotary, copies), each at about the H100's memory bandwidth. Reaching 181.6 ms needs ~20 ms of that memory traffic gone: SwiGLU and the norms fused into the matmuls' prologues and epilogues (kernels of our own), or a faster attention (FlashAttention 3 is not installable on the device: no network, no CUDA toolkit to build it). Tried and not helping: Inductor's coordinate descent (this run), removing the host sync of transformers' packed-sequence check (run 8), activation budgets (memory lower, time unchanged).",
  "bench/results/lm-memory-llama-1b-h200-run5.json":
    "Run 5 (one H200, one call, 2026-12-05: `T=200 bash bench/gpu/lm_real.sh 8`; the peak measured in the same call, before the 8B run). What memory costs: full fine-tuning keeps fp32 master weights, gradients and AdamW moments on the GPU (39.65 GiB); with the AdamW state offloaded to the host it peaks 9.2 GiB lower (30.44) at 0.37x the speed (the step waits for the host's optimizer); LoRA with every layer checkpointed needs 5.57 GiB, at 0.78x the speed of the default compiled LoRA run on the H100 above (different GPUs: no ratio is taken). Full fine-tuning's MFU counts 6 x parameters + attention.",
};

function renderReal(files) {
  const all = files.flatMap((f) => {
    const r = JSON.parse(readFileSync(resolve(f), "utf8"));
    return Object.entries(r)
      .filter(([, v]) => v && typeof v === "object" && typeof v.tokens_per_s === "number")
      .map(([name, v]) => ({ name, v, r, file: short(f), real: Boolean(r.data) }));
  });
  const find = (shape, real, name, file) => all.find((x) => x.r.shape === shape && x.real === real && x.name === name && (!file || x.file === file));
  // A packed run's peers are the packed ones, a padded run's the padded ones, measured on the same GPU (same file).
  // HF + PEFT's peer is the fastest of its kinds measured in that file (eager, Liger, compiled layers).
  const layout = (x) => (x.name.includes("packed") ? "_packed" : "");
  const kinds = (kind) => (kind === "hf_lora" ? ["hf_lora", "hf_lora_liger", "hf_lora_compile"] : [kind]);
  const peerOf = (x, kind) =>
    kinds(kind)
      .map((k) => find(x.r.shape, true, `${k}${layout(x)}`, x.file))
      .filter(Boolean)
      .sort((a, b) => b.v.tokens_per_s - a.v.tokens_per_s)[0];
  // Three decimals: the issue's target is 1.25x, and 1.246 is not it.
  const ratio = (x, peer) => (peer ? `${(x.v.tokens_per_s / peer.v.tokens_per_s).toFixed(3)}x` : "-");
  const loss = (v) => `${v.losses[0].toFixed(4)} -> ${v.losses.at(-1).toFixed(4)}`;
  const lines = [
    "## Generative: packed real data, memory, Unsloth and QLoRA on one GPU (#23)",
    "",
    `Commands (device): \`bash bench/gpu/lm_real.sh 1\` (H200, run 1), the calls in the run-3 note below (H100), \`bash bench/gpu/lm_real.sh 9\` (run 4, H200; runs 5 and 6, H100), \`10\` and \`8\` (run 5), \`12\` (runs 7-9), \`10\` (rows run 8), \`13\` and \`18\` (run 10), \`t\`, \`18\` and \`17\` (run 11), each running \`bench/gpu/lm_speed.py\`; the shards made here first by \`node bench/lm.mjs shards\`, the peers' wheels by \`bash bench/gpu/pack-peers.sh\`; the device's files of one run joined into one raw file each (Hone's progress events attached); then \`node bench/lm.mjs real ${files.map(short).join(" ")}\` here.  `,
    `Machines: ${[...new Set(all.map((x) => `${x.r.gpu} (\`${x.file}\`, torch ${x.r.torch})`))].join("; ")}; ratios only between runs of one file (one GPU). Models: random weights in bf16 (no hub on the device), LoRA r=16, alpha 32, all linear layers, AdamW lr 1e-4, the same rows in the same order on every side (the engine's epoch order; the peers' batches made by the engine's own collate).`,
    "",
  ];
  const shapes = [...new Set(all.filter((x) => x.real).map((x) => x.r.shape))];
  if (shapes.length) {
    const d = all.find((x) => x.real).r;
    lines.push(
      `**Real conversational data.** ${d.data.data}: ${d.data.conversations} conversations, ${d.data.tokens} tokens, ${d.data.learnt_tokens} of them learnt (the answers), templated and tokenized by Hone's TypeScript with SmolLM2's chat template, packed first-fit-decreasing into ${d.data.rows} rows of at most ${d.data.max_length} tokens (${d.data.truncated} truncated, ${d.data.dropped} dropped). A packed step is ${d.batch_rows} rows; an unpadded-kind step is ${d.unpacked_batch} conversations (what ${d.batch_rows} rows hold on average), one a row, padded to the step's longest. tokens/s counts real tokens only; peak is the allocator's peak (allocated); losses are means over the learnt tokens, over the timed and warm-up steps.`,
      "",
      "| shape | GPU | run | tokens/s | vs the fastest HF + PEFT measured (eager, Liger, compiled), same layout | vs Unsloth, same layout | peak GiB | loss first -> last | raw |",
      "|---|---|---|---:|---:|---:|---:|---|---|",
    );
    for (const shape of shapes)
      for (const file of new Set(all.filter((x) => x.real && x.r.shape === shape).map((x) => x.file)))
        for (const [name, label] of Object.entries(REAL_RUNS)) {
          const x = find(shape, true, name, file);
          if (!x) continue;
          const params = `${(x.r.parameters / 1e9).toFixed(2)}B`;
          // A run annotated as not measuring speed (compiling inside its timed window) shows no ratio.
          const mine = (kind) => (x.name.startsWith(kind.split("_")[0]) || x.v.not_a_speed ? "-" : ratio(x, peerOf(x, kind)));
          const speed = x.v.not_a_speed ? `(${x.v.tokens_per_s.toFixed(0)}: not a speed, see the note)` : x.v.tokens_per_s.toFixed(0);
          lines.push(
            `| ${shape} (${params}) | ${x.r.gpu.replace(/^NVIDIA /, "")} | ${label} | ${speed} | ${mine("hf_lora")} | ${mine("unsloth_lora")} | ${gib(x.v.max_memory_gib)} | ${loss(x.v)} | \`${x.file}\` |`,
          );
        }
    lines.push("");
    for (const f of new Set(all.filter((x) => x.real).map((x) => x.file))) if (REAL_NOTES[f]) lines.push(REAL_NOTES[f], "");
  }
  // Random full rows: one table a raw file (one GPU, one session); peers from the same file.
  // MFU where the file holds the bf16 matmul peak measured in the same call.
  const rowFiles = [...new Set(all.filter((x) => !x.real && x.r.shape !== "llama-8b").map((x) => x.file))];
  for (const file of rowFiles) {
    const d = all.find((x) => x.file === file).r;
    const peak = d.peak?.flops;
    const c = d.model_config;
    lines.push(
      `**Random full rows** (${d.shape}, ${(d.parameters / 1e9).toFixed(2)}B, ${d.batch_rows} rows of ${d.seq} tokens a step, ${d.gpu.replace(/^NVIDIA /, "")}${peak ? `, bf16 matmul peak measured in the same call: ${(peak / 1e12).toFixed(0)} TFLOP/s` : ""}):`,
      "",
      "| run | tokens/s | vs Unsloth of the same kind | MFU | peak GiB (allocated) | reserved GiB | loss first -> last | raw |",
      "|---|---:|---:|---:|---:|---:|---|---|",
    );
    // Each run of an A/B file (abKey) gets its row.
    for (const [name, label] of Object.entries(ROWS_RUNS))
      for (const x of all.filter((y) => y.file === file && abKey(y.name).run === name)) {
        const { engine, round } = abKey(x.name);
        const kind = name.includes("qlora") ? "unsloth_qlora" : name.includes("lora") ? "unsloth_lora" : null;
        const peer = kind && !name.startsWith("unsloth") ? all.find((y) => y.file === file && y.name === kind) : null;
        const fpt = (name.includes("lora") ? 4 : 6) * d.parameters + attentionFlops(c, d.seq);
        lines.push(
          `| ${label}${engine ? ` (engine \`${engine}\`, round ${round + 1})` : ""} | ${x.v.tokens_per_s.toFixed(0)} | ${ratio(x, peer)} | ${peak ? pct((x.v.tokens_per_s * fpt) / peak) : "-"} | ${gib(x.v.max_memory_gib)} | ${gib(x.v.max_reserved_gib)} | ${loss(x.v)} | \`${x.file}\` |`,
        );
      }
    if (ROWS_NOTES[file]) lines.push("", ROWS_NOTES[file]);
    lines.push("");
  }
  const big = all.find((x) => x.r.shape === "llama-8b" && x.name === "hone_lora_compile");
  if (big) {
    const r = big.r;
    const c = r.model_config;
    const [L, h] = [c.num_hidden_layers, c.hidden_size];
    const fpt = 4 * r.parameters + attentionFlops(c, r.seq);
    const fptCausal = 4 * r.parameters + attentionFlops(c, r.seq) / 2;
    const peak = r.peak?.flops;
    lines.push(
      `**The 8B Llama shape** (hidden ${h}, ${L} layers, ${c.num_attention_heads} heads, ${c.num_key_value_heads} KV heads, intermediate ${c.intermediate_size}, vocab ${c.vocab_size}, untied: ${(r.parameters / 1e9).toFixed(2)}B parameters), LoRA r=16 on all linear layers, ${r.batch_rows} rows of ${r.seq} random tokens a step: **${big.v.tokens_per_s.toFixed(0)} tokens/s**, MFU ${peak ? pct((big.v.tokens_per_s * fpt) / peak) : "-"} (4 x parameters + 12 x layers x width x sequence FLOPs a token: forward and input gradients of every matrix, and attention's scores and values forward (2 matmuls) and backward (4), which LoRA needs in full; attention over the whole sequence) or ${peak ? pct((big.v.tokens_per_s * fptCausal) / peak) : "-"} counting the causal half, against the bf16 matmul peak measured in the same call (${peak ? (peak / 1e12).toFixed(0) : "-"} TFLOP/s); peak memory ${gib(big.v.max_memory_gib)} GiB allocated, ${gib(big.v.max_reserved_gib)} GiB reserved; loss ${loss(big.v)}. Raw: \`${big.file}\`.`,
      "",
    );
  }
  // The 8B run's peak by where each block was allocated (HONE_CUDA_MEMORY_HISTORY), what the
  // estimate below is checked against part by part.
  const probe = loadResults(/^lm-8b-memory-.*\.json$/).at(-1);
  if (probe?.memory_history) {
    const m = probe.memory_history;
    const gb = (b) => (b / 2 ** 30).toFixed(2);
    const of = (re) => m.by_place.filter((p) => re.test(p.where)).reduce((a, p) => a + p.bytes, 0);
    const weights = of(/recipes\/lm_train\.py:\d+ run/);
    const copies = of(/_member_weight/);
    const logits = of(/lm\/logp\.py:64 forward/);
    const rest = m.peak_bytes - weights - copies - logits;
    lines.push(
      `**Where the 8B run's memory is** (the same job on ${probe.gpu}, recorded with \`HONE_CUDA_MEMORY_HISTORY\`: the allocator's history replayed to its peak, ${gb(m.peak_bytes)} GiB, each block alive then put under the engine's line that allocated it; \`bench/results/${probe.file}\`): the model's weights ${gb(weights)} GiB; the logit chunk ${gb(logits)} GiB, one bf16 4096 x ${probe.model_config.vocab_size} block (the fused softmax overwrites it with its gradient: the estimate counted 2.94 GiB, bf16 plus an fp32 copy, and now counts what a GPU holds); the layers' saved activations and the rest ${gb(rest)} GiB (${m.by_place
        .filter((p) => !/recipes\/lm_train|_member_weight|logp\.py:64/.test(p.where) && p.bytes > 2 ** 30)
        .map((p) => `${p.where.split("hone_engine/").at(-1)} ${gb(p.bytes)}`)
        .join(
          ", ",
        )}); and **${gb(copies)} GiB of copies of the frozen weights** (\`fused_lora.py _member_weight\`, ${m.by_place.find((p) => /_member_weight/.test(p.where))?.blocks ?? 0} blocks: six a layer, every adapted matrix but down_proj with its B beside it), which the compiled layers keep from the forward to the backward pass. The backward builds each member's rows [W_i | 0 B_i 0] again; torch.compile's common-subexpression pass merged them with the forward's, so the partitioner saved them. The estimate does not count them, which is most of why the 8B row reads above 1x. The forward's weight is now built apart (\`_big_weight\`), measured in the A/B section below.`,
      "",
    );
  }
  const est = loadResults(/^lm-real-estimates\.json$/).at(-1);
  if (est?.rows.length) {
    const g = (b) => (b / 2 ** 30).toFixed(2);
    lines.push(
      `**The memory estimate against the measured peak.** \`hone train --dry-run\`'s estimate (\`src/generative/memory.ts\`: weights, trained state, activations, logit chunks; the CUDA context and fragmentation not counted) for each Hone run above, from the same shapes and settings (\`${est.command}\`), beside the peak the engine measured (allocated):`,
      "",
      "| shape | run | weights | trained state | activations | logits | estimate GiB | measured GiB | measured / estimate | raw |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
      ...est.rows.map(
        (x) =>
          `| ${x.shape} | ${x.run} | ${g(x.estimate.weights)} | ${g(x.estimate.trained_state)} | ${g(x.estimate.activations)} | ${g(x.estimate.logits)} | ${g(x.estimate.total)} | ${x.measured_allocated_gib.toFixed(2)} | ${((x.measured_allocated_gib * 2 ** 30) / x.estimate.total).toFixed(2)}x | \`${x.file}\` |`,
      ),
      "",
    );
  }
  writeSection("lm-real", lines);
}

function renderPacking() {
  const raw = loadResults(/^lm-packing-.*\.json$/).at(-1);
  if (!raw) return;
  const table = raw.rows.map(
    ({ max_length, batch, conversations, packing: p }) =>
      `| ${max_length} | ${batch} | ${conversations} | ${p.tokens} | ${p.unpacked_slots} (${pct(1 - p.tokens / p.unpacked_slots)} padding) | ${p.packed_slots} (${pct(1 - p.tokens / p.packed_slots)} padding) | ${p.rows} rows, ${p.examples_per_row.toFixed(1)} a row | ${pct(p.padding_saved)} |`,
  );
  writeSection("lm-packing", [
    "## Generative: what packing saves on real lengths (CLINC150 as chat)",
    "",
    `Command: \`${raw.command}\` (CPU, ${raw.machine.cpus} cores, ${raw.date.slice(0, 10)}; nothing is trained: this counts token slots; raw: \`bench/results/${raw.file}\`)  `,
    `Data: the 15,000 CLINC150 training utterances as conversations (user: the utterance, assistant: the intent), SmolLM2's chat template and tokenizer. A "slot" is a token position the GPU computes in one epoch; without packing each batch is padded to its longest conversation (shuffled batches of \`batch\` conversations), with packing to its longest row (shuffled batches of \`batch\` rows of first-fit-decreasing packed conversations).`,
    "",
    "| max_length | batch | conversations | real tokens | slots without packing | slots with packing | rows | slots saved |",
    "|---:|---:|---:|---:|---:|---:|---|---:|",
    ...table,
    "",
    "Packed rows never attend across conversations: positions restart at each one and transformers builds the block-diagonal mask from them (engine test `test_packed_rows_score_each_sequence_as_if_alone`).",
  ]);
}

// CLINC150's training utterances as conversations: the user's text, the assistant names the intent.
function clincChat(dataRoot) {
  const rows = JSON.parse(readFileSync(join(dataRoot, "clinc150", "data_full.json"), "utf8")).train;
  const dir = mkdtempSync(join(tmpdir(), "hone-clinc-chat-"));
  const file = join(dir, "clinc150-chat.jsonl");
  writeFileSync(
    file,
    `${rows
      .map(([text, intent]) =>
        JSON.stringify({
          messages: [
            { role: "user", content: text },
            { role: "assistant", content: intent.replace(/_/g, " ") },
          ],
        }),
      )
      .join("\n")}\n`,
  );
  return file;
}

if (what === "shards") {
  // The training split exactly as `hone train` stages it (chat template, loss on the answers,
  // first-fit-decreasing packing into rows of max_length), plus what the device needs to know.
  const { loadConfig, resolveConfig } = await import(join(root, "dist", "index.js"));
  const { loadLmDataset } = await import(join(root, "dist", "generative", "dataset.js"));
  const { packSequences } = await import(join(root, "dist", "generative", "pack.js"));
  const { writeLmShard } = await import(join(root, "dist", "tokenize", "shards.js"));
  const out = resolve(opt("--out", join(root, ".carry", "clinc-chat")));
  const maxLength = Number(opt("--max-length", "2048"));
  const file = clincChat(resolve(opt("--data-root", join(root, "..", "shared", "data"))));
  const loaded = loadConfig(null, ["task=sft", `data.train=${file}`, `data.max_length=${maxLength}`, "data.split.validation=0", "data.split.test=0"]);
  const cfg = resolveConfig(loaded, { type: "probe", torch: "", transformers: "", cuda: false, bf16: false, devices: [], cpu_threads: 1 });
  const ds = await loadLmDataset(
    cfg,
    () => {},
    () => {},
  );
  const seqs = ds.encoded.train.flat();
  const rows = packSequences(
    seqs.map((s) => s.ids.length),
    maxLength,
  );
  require_fs.mkdirSync(out, { recursive: true });
  const shard = writeLmShard(out, "train", seqs, rows);
  // The model's tokenizer beside the tokens: Unsloth's loader wants one in the model folder.
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) require_fs.copyFileSync(join(cfg.model.dir, f), join(out, f));
  const tokens = seqs.reduce((a, s) => a + s.ids.length, 0);
  const learnt = seqs.reduce((a, s) => a + s.mask.reduce((x, m) => x + m, 0), 0);
  const meta = {
    data: "clinc150/data_full.json train as chat (user: utterance, assistant: intent with spaces)",
    model: cfg.model.id ?? cfg.model.dir,
    template: ds.encoder.template?.source.origin ?? null,
    max_length: maxLength,
    conversations: seqs.length,
    tokens,
    learnt_tokens: learnt,
    truncated: ds.truncated,
    dropped: ds.dropped,
    rows: rows.length,
    config: JSON.parse(readFileSync(join(cfg.model.dir, "config.json"), "utf8")),
    files: Object.fromEntries(Object.entries(shard).filter(([, v]) => typeof v === "string")),
  };
  writeFileSync(join(out, "meta.json"), JSON.stringify(meta, null, 2));
  console.log(`${out}: ${seqs.length} conversations, ${tokens} tokens (${learnt} learnt), ${rows.length} rows of <= ${maxLength}`);
} else if (what === "packing") {
  const { inspectLmData, loadConfig, resolveConfig } = await import(join(root, "dist", "index.js"));
  const file = clincChat(resolve(opt("--data-root", join(root, "..", "shared", "data"))));
  const rowsOut = [];
  for (const maxLength of [512, 2048]) {
    for (const batch of [8, 32]) {
      const loaded = loadConfig(null, [
        `task=sft`,
        `data.train=${file}`,
        `data.max_length=${maxLength}`,
        `train.batch_size=${batch}`,
        "data.split.validation=0",
        "data.split.test=0",
      ]);
      const cfg = resolveConfig(loaded, { type: "probe", torch: "", transformers: "", cuda: false, bf16: false, devices: [], cpu_threads: 1 });
      const r = await inspectLmData(cfg, () => {});
      rowsOut.push({ max_length: maxLength, batch, conversations: r.splits.train.count, packing: r.packing });
    }
  }
  saveResult("lm-packing-clinc150.json", {
    bench: "lm-packing",
    command: "node bench/lm.mjs packing",
    date: new Date().toISOString(),
    machine: machine("cpu"),
    data: "clinc150/data_full.json train, as chat (user: utterance, assistant: intent with spaces)",
    rows: rowsOut,
  });
  renderPacking();
} else if (what === "packing-render") renderPacking();
else if (what === "record") {
  // One or more device runs of lm_speed.py: each row is compared with the peer and the peak of its own run.
  const files = rest.filter((a) => a.endsWith(".json"));
  const runs = files.map((f) => JSON.parse(readFileSync(f, "utf8")));
  const r = runs[0];
  const L = 16,
    d = 2048;
  // PaLM's count (attention over the whole sequence), and the causal half of it that a flash kernel computes.
  const full = (n) => n.includes("full");
  const fpt = (x, n) => (full(n) ? 6 : 4) * x.parameters + 12 * L * d * x.seq;
  const fptCausal = (x, n) => (full(n) ? 6 : 4) * x.parameters + 6 * L * d * x.seq;
  // The full fine-tuning peer is the faster of eager and compiled HF in the same run.
  const fullPeer = (x) => [x.hf_full, x.hf_full_compile].filter(Boolean).sort((a, b) => b.tokens_per_s - a.tokens_per_s)[0];
  const mfu = (x, n, count) => (x[n].tokens_per_s * count(x, n)) / x.peak.flops;
  const lines = runs.flatMap((x, i) =>
    ["hf_lora", "hone_lora", "hone_lora_compile", "hf_full", "hf_full_compile", "hone_full_compile"]
      .filter((n) => x[n])
      .map((n) => {
        const y = x[n];
        // Like by like: LoRA against the LoRA peer, full fine-tuning against a full fine-tuning peer.
        const peer = full(n) ? fullPeer(x) : x.hf_lora;
        const ratio = peer ? `${(y.tokens_per_s / peer.tokens_per_s).toFixed(2)}x` : "- (no full fine-tuning peer in this run)";
        return `| ${i + 1} | ${n} | ${y.tokens_per_s.toFixed(0)} | ${ratio} | ${pct(mfu(x, n, fpt))} | ${pct(mfu(x, n, fptCausal))} | ${y.losses[0].toFixed(4)} -> ${y.losses.at(-1).toFixed(4)} |`;
      }),
  );
  const lora = r.hone_lora_compile ?? r.hone_lora;
  const loraRatio = lora.tokens_per_s / r.hf_lora.tokens_per_s;
  const loraVerdict = `LoRA is ${loraRatio.toFixed(2)}x the peer in run 1: ${loraRatio >= 2.3 ? "past" : "short of"} the 2.3x asked.`;
  // The full fine-tuning verdict from the last run that has it beside a full fine-tuning peer (else the last with it).
  const withPeer = runs.map((_, i) => i).filter((i) => runs[i].hone_full_compile && fullPeer(runs[i]));
  const fullAt =
    withPeer.at(-1) ??
    runs
      .map((_, i) => i)
      .filter((i) => runs[i].hone_full_compile)
      .at(-1) ??
    -1;
  const fullRun = runs[fullAt];
  const peerOfFull = fullRun && fullPeer(fullRun);
  const fullVerdict = !fullRun
    ? "Full fine-tuning was not in these runs."
    : `Full fine-tuning (run ${fullAt + 1}) ${mfu(fullRun, "hone_full_compile", fptCausal) >= 0.55 ? `passes the 55% MFU asked for by ${mfu(fullRun, "hone_full_compile", fpt) >= 0.55 ? "either count" : "the causal count only"}` : "is short of the 55% MFU asked"}${peerOfFull ? `, at ${(fullRun.hone_full_compile.tokens_per_s / peerOfFull.tokens_per_s).toFixed(2)}x the faster full fine-tuning peer of its run (${peerOfFull === fullRun.hf_full_compile ? "HF compiled" : "HF eager"}, ${peerOfFull.tokens_per_s.toFixed(0)} tokens/s)` : ""}.`;
  const runList = files
    .map((f, i) => `run ${i + 1} \`${f.replace(/^.*bench\/results\//, "bench/results/")}\` (peak ${(runs[i].peak.flops / 1e12).toFixed(0)} TFLOP/s)`)
    .join(", ");
  writeSection("lm-gpu", [
    "## Generative: training speed on one GPU (Hone engine vs Hugging Face + PEFT)",
    "",
    `Command (device): \`python3 bench/gpu/lm_speed.py --steps 30 --warmup 8 --batch 8 --seq 2048 [--only ...]\` (carrying \`.whl\` with jsonschema; run 3: \`--steps 20 --warmup 6 --only peak,hf_full,hf_full_compile,hone_full_compile\`), then \`node bench/lm.mjs record ${files.map((f) => f.replace(/^.*bench\/results\//, "bench/results/")).join(" ")}\` here.  `,
    `Machine: ${r.gpu}, torch ${r.torch}. Each device run measures its own bf16 matmul peak (8192³) and its own peer; every row below is compared with those of its run: ${runList}.  `,
    `Model: random-weight Llama architecture, hidden 2048, 16 layers, 32 heads, 8 KV heads, intermediate 8192, vocab 128256, tied embeddings: ${(r.parameters / 1e9).toFixed(2)}B parameters, stored bf16. Data: random tokens, ${r.batch_rows} rows of ${r.seq} tokens a step, every token but the first learnt; ${r.steps} timed steps after 8 warm-up steps, one process after the other on the same GPU.`,
    "",
    "- `hf_lora`, the peer: `AutoModelForCausalLM` (bf16, SDPA) + `peft` LoRA r=16, alpha 32, all linear layers (peft's default fp32 adapters), `model(input_ids, labels=...)`, torch AdamW, grad clipping.",
    "- `hf_full` / `hf_full_compile`, the full fine-tuning peers, as the Trainer runs with `bf16=True` (and `torch_compile=True`): fp32 weights and AdamW state (fused), bf16 autocast, SDPA, the same loop; the full fine-tuning ratio divides by the faster of the two in its run.",
    "- `hone_*`: the engine process (`python -m hone_engine`) fed the `LmTrainJob` that `hone train` writes, on shards of the same tokens in the same order: LoRA (same settings, bf16 base weights, fp32 adapters under bf16 autocast) or full fine-tuning (**fp32 master weights and fp32 AdamW state**, bf16 autocast), fused AdamW, learnt positions gathered on the CPU side (no sync), no position ids for unpacked rows, output layer in 4096-row chunks with its gradient taken in the forward pass (frozen layer: d hidden; trained layer: d hidden and d weight, three matmuls instead of checkpointing's four) and the softmax and its gradient in one Triton kernel that overwrites the chunk's logits (`engine/hone_engine/fused_ce.py`), LoRA layers as one matmul each and q/k/v and gate/up as one matmul a group (`engine/hone_engine/fused_lora.py`), `compile` = `torch.compile` of each decoder layer (the attention mask is decided outside compiled code, so SDPA runs its causal flash kernel).",
    "- MFU counts 6 x parameters + 12 x layers x width x sequence FLOPs a token for full fine-tuning, and 4 x parameters + 12 x layers x width x sequence for LoRA (frozen matrices get no weight gradient; attention has no weights, so its forward and backward are whole: until 2026-12-05 this table counted 8, which understated LoRA's MFU), against the measured peak (PaLM's count, attention over the whole sequence); the causal column counts half the attention, what a causal kernel computes.",
    "",
    "| device run | job | tokens/s | vs the same kind of peer (same run) | MFU | MFU (causal attention) | loss first -> last |",
    "|---:|---|---:|---:|---:|---:|---|",
    ...lines,
    "",
    `Reading: losses agree with the peer to the 3rd-4th decimal (random data: the loss sits at ln(128256) = 11.76 plus the random model's excess; what matters is that the same steps give the same numbers). ${fullVerdict} ${loraVerdict}`,
    "",
    "What moved it (same script, same machine kind, this session): 1.59x / 50.3% MFU before; computing the output layer's softmax gradient in one compiled function instead of six fp32 passes over 4096 x 128k logits gave 1.78x (LoRA); compiling each decoder layer instead of the decoder's forward gave 2.14x and 65.8% MFU (under `torch.compile`, transformers with torch < 2.14 always builds a dense causal mask, and SDPA with a mask took 3.78 ms a layer against 1.53 ms for its causal kernel, `bench/gpu/attn_probe.py`); full fine-tuning got the per-layer compile and the fused trained-layer gradient in the same run (48.3k -> 63.1k tokens/s), so the two are not separated. A profile of the LoRA step before the last change (`bench/gpu/lm_profile.py`): matmuls 127 ms of a 237 ms step at ~82% of peak, attention 63 ms (masked), fused elementwise 44 ms. Next for LoRA: fold the adapters' side paths (two thin matmuls, a scale and an add per adapted layer, memory-bound) into the frozen matmul's epilogue, and flash varlen attention for packed rows (`torch.nn.attention.varlen`, 2.37 ms a layer against 3.78 ms masked). Tried on 2026-12-02 (rerun, `bench/results/lm-speed-h200-rerun.json`: HF + PEFT 38,102, Hone LoRA + compile 80,343 tokens/s, 2.11x, with the decoder layers now compiled through the same `compile_blocks` as the classifier's encoder): (a) stopping peft from casting each adapted layer's bf16 input to the fp32 adapters (autocast casts it straight back; bit-identical results) changed nothing under compile, where inductor already folds the round trip, so it was not kept; (b) preferring cuDNN attention changed nothing, because SDPA already picks it: at this shape the default causal call takes 1.52 ms a layer like the cuDNN kernel, against 2.42 ms for FLASH (`bench/gpu/attn_probe.py`). The remaining gap to 2.3x (~14 ms of a ~204 ms step) is in the matmuls and the adapters' side paths.",
    "",
    "FSDP2 and one more attempt (2026-12-02, `--only peak,hf_lora,hone_lora_compile,hone_lora_compile_fsdp` and the experiment below, raw `bench/results/lm-speed-h200-fsdp.json`; full fine-tuning `--steps 20 --warmup 6 --only peak,hone_full_compile,hone_full_compile_fsdp`, `bench/results/lm-speed-h200-fsdp-full.json`): `train.fsdp` (FSDP2, one shard unit per decoder layer) on this one GPU, in a process group of one, trains as without it: LoRA 79,380 against 81,387 tokens/s (2.09x and 2.14x the peer's 37,995 in the same run; losses 12.1637 -> 12.1681 and -> 12.1680), full fine-tuning 58,433 against 63,703 (59.9% and 65.3% MFU; -> 12.1564 and -> 12.1562); the difference is FSDP's gather and scatter copies, which buy the memory split when there are several GPUs. Two GPUs were never lent, so FSDP's and DDP's scaling are still unmeasured. Tried and not kept: a LoRA layer as one autograd function that adds the adapter's product into the frozen layer's output and input gradient in place (Unsloth's matmul_lora): exact, but 78,375 tokens/s, slower than what inductor makes of peft's layer; and compiling the layers with `mode=\"reduce-overhead\"` (CUDA graphs): 80,138, no gain, while `max-autotune-no-cudagraphs` did not finish compiling in 270 s. A profile of the compiled LoRA step (`bench/gpu/lm_profile.py --steps 4`, `bench/results/lm-profile-h200-lora-compiled.json`): the GPU is busy 193.1 ms of a ~201 ms step (the rest is the GPU waiting for the host between kernels), matmuls 127.0 ms (~80% of the measured peak for the frozen layers' FLOPs; ~13 ms of it the adapters' thin r=16 products, memory-bound), fused elementwise and norms 36.4 ms, attention 24.3 ms (cuDNN, 1.54 ms a layer forward + backward, `bench/gpu/attn_probe.py`). 2.3x is a ~187 ms step. Left to take: the ~8 ms the GPU waits (CUDA graphs of the layers did not remove it, so it lies outside them: the output layer's chunks, the optimizer, collation), and part of the adapters' ~13 ms by one thin product for the q/k/v adapters and one for gate/up, which share their input.",
    "",
    "The adapters' side paths, measured and partly folded away (2026-12-03, `--only peak,hf_lora,hone_lora_compile,hone_lora_bound`, raw `bench/results/lm-speed-h200-bound.json` and `bench/results/lm-speed-h200-fused.json`): `hone_lora_bound` is not a method. It trains one adapter, on the first layer's q_proj, so every layer still computes its input gradient while the adapters' thin matmuls, scales and adds all but vanish. It ran at 96,723 tokens/s, **2.55x** the peer's 37,988, against 81,580 (2.15x) for LoRA on all linear layers in the same run. So peft's side paths cost ~32 ms of a ~201 ms step, more than the ~13 ms of thin matmuls the profile showed, since their adds and casts sit in the fused elementwise kernels. 2.3x is within what removing them can give. First step, kept: each plain LoRA layer on a GPU now runs as one matmul, `[x | s·xA] @ [W | B]^T`, and its backward takes dx and d(xA) from one matmul `dy @ [W | B]` (`engine/hone_engine/fused_lora.py`, the same loss and adapter gradients as peft's to 1e-6 in `engine/tests/test_fused_lora.py`). Run: **83,586 tokens/s, 2.19x** the peer's 38,102 (57.3% MFU), losses 12.1637 -> 12.1681 against the peer's -> 12.1679; the bound 96,956 (2.54x). The rest of the gap, ~27 ms, in bytes a layer: the input is still read once per adapter for xA and once more for dA (q/k/v and gate/up share theirs), and each input is copied once to append xA. [W | B] is concatenated in the forward and again in the backward, and dx adds dxA·A in one more pass. A profile of both in one call (`bench/gpu/lm_profile.py --steps 4`, and `--peft-lora` for peft's layers; raw `bench/results/lm-profile-h200-lora-fused.json`, `-peft.json`) puts GPU time at 189.9 against 198.2 ms a step. The fused layers save 3.9 ms of matmuls and 3.7 ms of fused elementwise kernels. The r=16 products (the thin kernels, ~10 ms a step) and ~6 ms of the GPU waiting for the host are still there. At 2.3x the step is ~187 ms. Next: one matmul for q/k/v and one for gate/up, sharing one appended input, with the concatenated weights kept between steps (only B's 16 columns change).",
    "",
    "Grouped projections and a Triton cross-entropy (2026-12-03, run 2 of the table: `--steps 30 --warmup 8 --only peak,hf_lora,hone_lora_compile,hone_full_compile`, raw `bench/results/lm-speed-h200-grouped.json`). Kernel timings first (`bench/gpu/kernels_probe.py`, raw `bench/results/kernels-probe-h200.json`): one 4096 x 128256 chunk's log-softmax and gradient took 1.84 ms as torch.compile made it and 0.98 ms as the Triton kernel (2 reads and 1 write of the bf16 logits at 3.2 TB/s; max difference 2e-6 in log p, 3e-5 in the gradient); eagerly, a layer's q/k/v LoRA forward + backward took 2.41 ms one by one and 0.95 ms as one matmul (the frozen matmuls alone 0.58 and 0.53), gate/up 3.87 and 3.53 ms. In the step: the first grouped version returned one output that the layer split, and its backward concatenated the members' gradients; inductor fused that concatenation into SiLU's backward, which then read gate and up twice (11.5 instead of 5.9 ms a step), so both groups together gave only 84,165 tokens/s (2.22x, with the cross-entropy kernel still in its first launch shape, 1.38 ms a chunk; `bench/results/lm-speed-h200-groups-cat.json`) and q/k/v alone 85,773 (2.26x; `-qkv-cat.json`). Each member now gets its own output and its own gradient, and the backward sums the members' `dy_i @ [W_i | 0 B_i 0]`: **87,115 tokens/s, 2.29x** the peer's 38,042, losses 12.1637 -> 12.1679 against the peer's -> 12.1681; q/k/v grouped alone in the same call 86,210 (`-qkv-only.json`). Profile (`bench/gpu/lm_profile.py --steps 4`, `bench/results/lm-profile-h200-lora-grouped.json`): GPU busy 182.1 ms of a 186.5 ms step in the profiler's own loop (the engine's step is 188.1 ms), matmuls 124.2, attention 25.3, fused elementwise 23.1, cross-entropy 4.3. The GPU waits ~3 ms a step in the engine's loop (`bench/gpu/lm_gaps.py`, raw `bench/results/lm-gaps-h200.json`, on the first grouped version); the longest wait, 0.9 ms, is before the first layer's first kernel, and the loop reads a device value back about once a step through `aten::is_nonzero`, which on the CPU traces to transformers' packed-sequence check on every forward pass (`find_packed_sequence_indices`, `(mask[:, -1] == 0).all()`). 2.3x was then a 186.2 ms step, 1.9 ms away. The profile also showed where: down_proj's input is 8192 wide and its output 2048, so appending xA to it copied the whole input once more (the `cat` kernel before down_proj, 2.0 ms a step), ~4x the bytes of adding the adapter's product to the output. A layer whose input is wider than its output now does that, inside the frozen matmul (`addmm` with beta 1, the product `(s·xA) @ B^T` as its C); its backward is unchanged. Run 1 of the table (`--only peak,hf_lora,hone_lora_compile`, raw `bench/results/lm-speed-h200.json`): **88,055 tokens/s, 2.32x** the peer's 37,984, 60.6% MFU, losses 12.1637 -> 12.1679 against the peer's -> 12.1683. The device time of the session ran out before full fine-tuning could run again beside it; its row is run 2's, which the change does not touch (it has no adapters). Left to take: the host sync of transformers' packed-sequence check, the cross-entropy kernel at 3.2 of the H200's ~4.8 TB/s, and attention (cuDNN, 25 ms a step, ~40% of the matmul peak).",
  ]);
} else if (what === "ab") {
  // An A/B of two engine commits in one device run (lm_speed.py --engines old=DIR,new=DIR --rounds N).
  const file = rest[0];
  const r = JSON.parse(readFileSync(resolve(file), "utf8"));
  const keys = Object.keys(r).filter((k) => k.includes("@"));
  const labels = [...new Set(keys.map((k) => abKey(k).engine))];
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const of = (label) => keys.filter((k) => abKey(k).engine === label).map((k) => r[k].tokens_per_s);
  const [a, b] = labels;
  const ratio = mean(of(b)) / mean(of(a));
  writeSection("lm-ab", [
    "## Generative: the engine before and after the run lifecycle (A/B, one device run)",
    "",
    `Command (device): \`python3 bench/gpu/lm_speed.py --steps 30 --warmup 8 --only peak,hone_lora_compile --engines old=<engine of 91dbc7b>,new=engine --rounds 2\`, then \`node bench/lm.mjs ab ${file}\` here. Machine: ${r.gpu}, torch ${r.torch}; bf16 peak ${(r.peak.flops / 1e12).toFixed(0)} TFLOP/s. The same 1.24B Llama-shape LoRA job as the table above; the two engines alternate (${labels.join(", ")}, ${labels.join(", ")}).`,
    "",
    "| run | engine | tokens/s | loss first -> last |",
    "|---|---|---:|---|",
    ...keys.map((k) => `| ${k} | ${abKey(k).engine} | ${r[k].tokens_per_s.toFixed(0)} | ${r[k].losses[0].toFixed(4)} -> ${r[k].losses.at(-1).toFixed(4)} |`),
    "",
    `Mean: ${a} ${mean(of(a)).toFixed(0)}, ${b} ${mean(of(b)).toFixed(0)} tokens/s: ${b}/${a} = ${ratio.toFixed(4)} (the shared training loop in \`engine/hone_engine/loop.py\` costs nothing measurable; the issue's bound was within 2%).`,
  ]);
} else if (what === "ab-memory") {
  // An A/B of the frozen-weight copies fix (fused_lora._big_weight), 8B and 1.24B, one device call:
  // tokens/s and peak memory of each engine, alternating.
  const files = rest.filter((a) => a.endsWith(".json"));
  const rowsOut = files.flatMap((f) => {
    const r = JSON.parse(readFileSync(resolve(f), "utf8"));
    return Object.keys(r)
      .filter((k) => k.includes("@"))
      .map((k) => ({ f: short(f), r, k, engine: abKey(k).engine, v: r[k] }));
  });
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const summary = [...new Set(rowsOut.map((x) => x.f))].map((f) => {
    const of = (e, key) => mean(rowsOut.filter((x) => x.f === f && x.engine === e).map((x) => x.v[key]));
    const shape = rowsOut.find((x) => x.f === f).r.shape;
    return `${shape}: ${of("this", "tokens_per_s").toFixed(0)} against ${of("base", "tokens_per_s").toFixed(0)} tokens/s (${((of("this", "tokens_per_s") / of("base", "tokens_per_s") - 1) * 100).toFixed(2)}%), peak ${of("this", "max_memory_gib").toFixed(2)} against ${of("base", "max_memory_gib").toFixed(2)} GiB allocated (${(of("this", "max_memory_gib") - of("base", "max_memory_gib")).toFixed(2)} GiB)`;
  });
  const r0 = rowsOut[0].r;
  writeSection("lm-ab-big-weight", [
    "## Generative: the frozen-weight copies removed (A/B, one device call)",
    "",
    `The 8B probe above found 9.65 GiB of copies of the frozen weights kept from the forward to the backward pass. The grouped LoRA layer (\`engine/hone_engine/fused_lora.py\`) now builds the forward's weight [W_1..n stacked | blockdiag(B_1..n)] from whole blocks (\`_big_weight\`), so torch.compile no longer merges it with the backward's per-member rows. Commands (device, ${r0.gpu}, torch ${r0.torch}, ${r0.date}): ${files.map((f) => `\`${JSON.parse(readFileSync(resolve(f), "utf8")).command.split(" (")[0]}\``).join("; ")}; \`base\` is main's engine before the change, \`this\` the change; then \`node bench/lm.mjs ab-memory ${files.join(" ")}\` here.`,
    "",
    "| shape | run | engine | tokens/s | peak GiB allocated | peak GiB reserved | loss first -> last | raw |",
    "|---|---|---|---:|---:|---:|---|---|",
    ...rowsOut.map(
      (x) =>
        `| ${x.r.shape} | ${x.k} | ${x.engine} | ${x.v.tokens_per_s.toFixed(0)} | ${x.v.max_memory_gib.toFixed(2)} | ${x.v.max_reserved_gib.toFixed(2)} | ${x.v.losses[0].toFixed(4)} -> ${x.v.losses.at(-1).toFixed(4)} | \`${x.f}\` |`,
    ),
    "",
    `Mean, this against base: ${summary.join("; ")}. The losses agree to bf16 noise (the same data and seed; the matmul's weight is laid out differently, so the sums round differently). Speed is unchanged within the run-to-run spread; the memory is what the probe attributed to the copies (8B) less the one copy the backward still builds at a time.`,
  ]);
} else if (what === "attention") {
  // Packed attention kernels (bench/gpu/packed_attn.py, JSON lines) and the engine A/B of one
  // device call (lm_speed.py --engines NAME=DIR,...): node bench/lm.mjs attention PROBE.jsonl AB.json...
  // The first .jsonl is the probe of every kernel; later ones add their kernels' rows and the
  // engine's own mask timings.
  const [probe, ...laterProbes] = rest.filter((a) => a.endsWith(".jsonl"));
  const jsonLines = (f) =>
    readFileSync(resolve(f), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
  const lines = jsonLines(probe);
  const kernelRows = [probe, ...laterProbes].flatMap((f) =>
    jsonLines(f)
      .filter((x) => x.kernel && !x.error?.startsWith("ModuleNotFoundError"))
      .map((x) => ({ ...x, file: short(f) })),
  );
  const engineMasks = laterProbes.flatMap((f) =>
    jsonLines(f)
      .filter((x) => x.engine_flex_mask_ms)
      .map((x) => ({ ...x, file: short(f) })),
  );
  const env = lines.find((x) => x.torch);
  const worst = (e) => (e ? Math.max(...Object.values(e).flatMap((b) => Object.values(b))).toFixed(3) : "-");
  const masks = Object.fromEntries(lines.filter((x) => x.create_block_mask_ms).map((x) => [x.data, x.create_block_mask_ms]));
  const abFiles = rest.filter((a) => a.endsWith(".json")).map((f) => ({ f, r: JSON.parse(readFileSync(resolve(f), "utf8")) }));
  const abRows = abFiles.flatMap(({ f, r }) =>
    Object.keys(r)
      .filter((k) => k.includes("@") || k.startsWith("unsloth"))
      .filter((k) => typeof r[k]?.tokens_per_s === "number")
      .map(
        (k) =>
          `| ${r.gpu.replace(/^NVIDIA /, "")} | ${k} | ${r[k].tokens_per_s.toFixed(0)} | ${gib(r[k].max_memory_gib)} | ${r[k].losses[0].toFixed(4)} -> ${r[k].losses.at(-1).toFixed(4)} | \`${short(f)}\` |`,
      ),
  );
  const notes = abFiles.map(({ r }) => r.note).filter(Boolean);
  writeSection("lm-packed-attention", [
    "## Generative: attention for packed rows of short sequences (#23)",
    "",
    `Kernels (device: \`python3 bench/gpu/packed_attn.py --steps 20\`; ${env.gpu}, torch ${env.torch}, cuDNN ${env.cudnn}; raw \`${short(probe)}\`): one layer's attention forward + backward at the benchmark's shape (8 rows x 2048 tokens, 32 query heads, 8 key heads, head dim 64), rows packed with random lengths; each checked on two batches against per-sequence causal SDPA in fp32 (max |difference| of outputs and q/k/v gradients over both, bf16 inputs). Then \`node bench/lm.mjs attention ${rest.map(short).join(" ")}\` here.`,
    "",
    "| data | kernel | ms forward + backward | max abs error | note | raw |",
    "|---|---|---:|---:|---|---|",
    // (the probe's own call of the engine's operator lacked the engine's jsonschema on its path; the
    // engine's GPU test checks that operator, and the A/B below runs it)
    ...kernelRows.map(
      (x) =>
        `| ${x.data} (${x.sequences} sequences a batch) | ${x.kernel} | ${x.ms_fwd_bwd ? x.ms_fwd_bwd.toFixed(2) : "-"} | ${worst(x.max_abs_err)} | ${x.error ? x.error.slice(0, 90) : ""} | \`${x.file}\` |`,
    ),
    "",
    `create_block_mask, once a batch: ${Object.entries(masks)
      .map(([d, ms]) => `${ms.toFixed(1)} ms (${d})`)
      .join(
        ", ",
      )}; the "made beforehand" rows leave it out (a step would make it once for all 16 layers), the "per call" rows include it.${engineMasks.length ? ` Compiled (the engine's \`varlen.flex_mask\`), another call: ${engineMasks.map((x) => `${x.engine_flex_mask_ms.toFixed(2)} ms against ${x.create_block_mask_ms.toFixed(1)} eager (${x.data})`).join(", ")}; raw \`${engineMasks[0].file}\`.` : ""}`,
    "",
    "The engine on packed CLINC150 as chat (1.24B Llama shape, LoRA r16, activation budget 0.8, 30 timed steps; `lm_speed.py --engines` alternates engine checkouts in one call):",
    "",
    "| GPU | run | tokens/s | peak GiB | loss first -> last | raw |",
    "|---|---|---:|---:|---|---|",
    ...abRows,
    "",
    ...notes.flatMap((n) => [n, ""]),
    "Reading: torch 2.11's `varlen_attn` takes as many key heads as query heads, so the engine repeated the 8 key and value heads 4x; its own operator (`hone::varlen_flash`, `engine/hone_engine/lm/varlen.py`) hands Flash Attention the grouped heads: 1.79 -> 1.64 ms a layer on chat rows (1.80 -> 1.63 in an earlier call), 1.48 -> 1.32 on documents, +0.8% tokens/s in the engine at the same memory, losses equal to bf16 noise. On ~44-token sequences FlexAttention's kernel with a mask made beforehand is faster still (1.07 ms), on ~431-token ones slower (1.48): several short sequences share a 128 x 128 tile there, where the variable-length kernel computes at least one tile per sequence and head. cuDNN's variable-length op failed in its backward on this torch (the error above). The earlier FlexAttention fault (a compiled caller computing every batch after the first with the first one's mask, `bench/gpu/flex_check.py`) belongs to the layout built by `BlockMask.from_kv_blocks`: with `create_block_mask` per batch, both batches are right on the GPU, gradients included (raw `bench/results/flex-check-h100.txt`, `python3 bench/gpu/flex_check.py`).",
    "",
    "FlexAttention in the engine (the `@flex` / `@varlen` rows and Unsloth's beside them; five calls on four machines). With the mask made eagerly once a step (call 1) it ran at the variable-length kernel's speed (-0.3%); with the mask compiled for the first batch's shape (call 2) it stalled 6.4 s to recompile on the first batch of another width. With the mask compiled for symbolic shapes (calls 3-5: no recompile in any timed window) it was faster in every same-call pair: +1.4% and +1.7% on an H100, +1.0%, +0.2% and +0.3% on an H200, at the same peak allocated memory (17.48 GiB) and 1.5 GiB less reserved (18.3 against 19.8-19.9: the variable-length kernel's backward keeps padded fp32 dq buffers), losses after 38 steps equal to bf16 noise (5.4073-5.4088 against 5.4075-5.4076), its GPU test passing (call 5). The kernels alone promise ~9 ms a step (16 layers x 0.57 ms); a ~160 ms step gains ~1-2.5 ms. **Landed**: a packed batch whose sequences average fewer than 128 tokens attends through FlexAttention in compiled layers on a GPU; longer sequences, uncompiled layers and the CPU keep the variable-length kernel. Its cost is compile time: call 3's first run (cold caches) took its first step at 101 s, the later runs at 54-58 s. Against Unsloth on the same packed rows in the same call (call 3, H100): 97,268 tokens/s (the two flex runs' mean) / 78,541 = **1.238x** at 17.5 GiB against 18.9 (0.92x its memory; reserved 18.3 against 19.5), the variable-length kernel alone 1.220x; calls 1-2 read 1.223x and 1.240x for the engine before. The 1.25x target on packed real data is still short, by ~1%.",
    "",
    "Call 6 (one H100, 2026-12-06; `ROUNDS=2 T=330 bash bench/gpu/lm_real.sh 14`, then `T=150 bash bench/gpu/lm_real.sh 11` on the same machine). Padding packed widths to whole 128-token blocks (`bench/patches/pack-width-128.patch`, the `@pad128` row) bought nothing: 95,903 against 95,642 and 95,859 tokens/s, the same loss and memory. With the layers compiled for symbolic shapes the kernel cannot know the width divides, so the hypothesis is refuted only in that form; static shapes were measured in run 8/9's flex runs (one width, +2%, on a wrong mask). Unsloth ran 80,972 on this machine (3% above call 3's), so the ratio read 1.184x here: across calls 3 and 6 it spans 1.184-1.238x, and the machine-to-machine spread (~3%) is as large as what remains to 1.25x. The engine's GPU tests (variable-length, flex, packed, and the masked pre-Ampere path on CUDA) passed, 5 of 5. The profile of the packed step (`bench/results/lm-profile-h100-lora-packed-flex-6.json`, `-packed-b80-flex-6.json`) puts FlexAttention at **30.1-30.8 ms a step** (forward 11.1, backward 17.6; 1.9 ms a layer), more than the variable-length kernel's 26.7 in run 7's profile and more than cuDNN's causal attention over whole 2048-token rows in the same call (25.4 ms, `-rows-6.json`), for ~44-token conversations whose own causal triangles hold ~1/45 of a whole row's query-key pairs. The step is faster anyway because inductor fuses the layers' transposes into FlexAttention's kernels (fused elementwise 28.7 here against 32.1 ms in run 7's variable-length profile, another H100). The kernel probe timed the same mask at 1.07-1.10 ms a layer, the engine's layers take 1.9: what differs is symbolic shapes and the prologue fused into the kernels (the probe's next call separates them: `flex for symbolic shapes` rows of `bench/gpu/packed_attn.py`). Attention is the largest lever left on packed data: at the probe's 1.1 ms a layer the step would lose ~12 ms (~+7% tokens/s); at cuDNN's causal efficiency over the tiles the mask keeps (~16-30 of a whole row's 136 causal 128 x 128 tiles) it would lose ~25 ms. Full rows in the same call: 192.9 ms of GPU time a step compiled for their one shape, 194.0 for symbolic shapes (matmuls 127.3, fused elementwise 28.3, attention 25.4, cross-entropy 5.0).",
    "",
    "Calls 7-9 (one H100, the same machine, 2026-12-07; `ROUNDS=2 T=330 bash bench/gpu/lm_real.sh 15`, then `lm_real.sh 16` and Unsloth's packed run as in `unsloth_packed`, each call starting as the last ended). **One shape explains the 1.9 ms**: the probe's FlexAttention on ~44-token chat rows takes 1.07 ms a layer compiled for one shape and 1.74 for symbolic shapes (1.10 and 1.79 with the engine's mask; ~431-token documents 1.49 and 2.44; `lm-packed-attn-flex-h100-7.jsonl`). In the engine (`bench/patches/pack-static-width.patch`: every packed batch as wide as the shard's widest row in whole 128-token blocks, the layers compiled for that shape, only the block mask handed to them) **100,702 and 101,031 tokens/s against 94,566 and 94,686** for symbolic shapes (+6.6%), loss after 38 steps 5.4080 against 5.4073, 17.48 GiB allocated either way; compile time fell too (first step at 9.7-26 s against 52-75 s). The forward kernel on 64 x 64 tiles inside the 128-token mask blocks (probe: 0.94 ms a layer against 1.07) added +1.2% in the engine (`@static64`: 102,144 and 101,878 against 100,735 and 100,875; loss 5.4084). 64-token mask blocks themselves failed to compile (the errors above: no backward kernel, and the forward's default 128-token tiles). Unsloth on the same packed rows, next call, same machine: 80,144 tokens/s at 18.94 GiB. So the engine's one-shape path is **1.271-1.275x Unsloth at 0.92x its memory** (17.48 GiB allocated, 18.29 reserved against 19.51) on this machine; the target on packed real data is met here, by 2%, where the machine-to-machine spread of the ratio was ~3% (1.184-1.238x for the symbolic-shape engine across calls 3 and 6). **Landed** (d0613e2): a packed run whose sequences average fewer than 128 tokens, compiled on a GPU of Ampere or newer, gets one batch shape (a short last batch is filled with lines of padding), compiles its layers for it, attends through FlexAttention with the block mask alone and 64 x 64 forward tiles (`varlen.flex_width`, `varlen.FLEX_TILES`); other runs keep the variable-length kernel and symbolic shapes. The landed code is the `@static64` patch's computation (the padding lines never occur in 38 steps of 8 rows from 323); the device time ran out before it could run as landed, with its GPU tests, beside Unsloth in one call. (It did on 2026-12-07: run 10 of the packed-real-data section, 1.273x Unsloth at 0.92x its memory in one call.)",
  ]);
} else if (what === "real") renderReal(rest.filter((a) => a.endsWith(".json")));
else if (what === "estimate") {
  // `hone train --dry-run`'s memory estimate for every Hone run of the device files, beside the
  // peak the engine measured. The random-weight models exist only on the device; the estimate needs
  // only their tensor shapes, so each is written here as a safetensors header with no data.
  const { loadConfig, resolveConfig } = await import(join(root, "dist", "index.js"));
  const { estimateMemory } = await import(join(root, "dist", "generative", "memory.js"));
  const machineGpu = { type: "probe", torch: "x", transformers: "x", cuda: true, bf16: true, devices: [{ name: "gpu", memory: 0 }], cpu_threads: 16 };
  const rowsOut = [];
  for (const f of rest.filter((a) => a.endsWith(".json") && !a.includes("estimates"))) {
    const r = JSON.parse(readFileSync(resolve(f), "utf8"));
    const dir = join(tmpdir(), `hone-shape-${r.shape}-${r.model_config.vocab_size}`);
    writeShapeOnly(dir, r.model_config);
    for (const [key, v] of Object.entries(r)) {
      // An A/B file's runs (run@engine#round) take their settings from the run's name.
      const name = abKey(key).run;
      if (!name.startsWith("hone_") || !v || typeof v.tokens_per_s !== "number") continue;
      const packed = name.includes("packed");
      const qlora = name.includes("qlora");
      const full = name.startsWith("hone_full");
      const ckpt = name.endsWith("_ckpt_half") ? r.model_config.num_hidden_layers / 2 : name.endsWith("_ckpt");
      const budget = /_b(\d\d)$/.exec(name);
      const batch = packed || !r.data ? r.batch_rows : r.unpacked_batch;
      // Unpacked real rows are as wide as the step's longest conversation, not max_length.
      const maxLength = packed || !r.data ? r.seq : null;
      if (maxLength === null) continue;
      const cfg = resolveConfig(
        loadConfig(
          null,
          [
            "task=sft",
            `adapter.method=${full ? "none" : "lora"}`,
            "adapter.r=16",
            ...(full ? [`train.optimizer_offload=${name.endsWith("_offload")}`] : []),
            `train.batch_size=${batch}`,
            `data.max_length=${maxLength}`,
            ...(qlora ? ["adapter.quantize=nf4"] : []),
            `train.gradient_checkpointing=${ckpt}`,
            `train.activation_budget=${budget ? Number(budget[1]) / 100 : 1}`,
          ],
          { data: { train: "chat.jsonl" }, model: { path: dir } },
        ),
        machineGpu,
      );
      const e = estimateMemory(cfg, false);
      rowsOut.push({
        file: short(f),
        shape: r.shape,
        run: key,
        estimate: e,
        measured_allocated_gib: v.max_memory_gib,
        measured_reserved_gib: v.max_reserved_gib,
      });
    }
  }
  saveResult("lm-real-estimates.json", {
    bench: "lm-estimate",
    command: `node bench/lm.mjs estimate ${rest.join(" ")}`,
    date: new Date().toISOString(),
    rows: rowsOut,
  });
  for (const x of rowsOut)
    console.log(`${x.shape} ${x.run}: estimate ${(x.estimate.total / 2 ** 30).toFixed(2)} GiB, measured ${x.measured_allocated_gib.toFixed(2)} GiB allocated`);
} else {
  console.error("usage: node bench/lm.mjs packing | shards | record <lm_speed.json>... | ab <lm_speed.json> | real <lm_speed.json>...");
  process.exit(2);
}
