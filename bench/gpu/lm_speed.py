"""Generative training speed on one GPU: Hone's engine vs a plain Hugging Face + PEFT loop.

Random-weight Llama-architecture model (hidden 2048, 16 layers, 32 heads, 8 KV heads, vocab
128256, ~1.2B parameters), random tokens, rows of SEQ tokens, bf16. Measured in one process run
after another on the same GPU:
  peak     an 8192^3 bf16 matmul (the MFU denominator)
  hf_lora  the peer: AutoModelForCausalLM (bf16) + peft LoRA r=16 on all linear layers (peft's
           default fp32 adapters), SDPA, model(input_ids, labels=...) loss, torch AdamW
  hf_full  the full fine-tuning peer: fp32 weights, bf16 autocast, fused AdamW (the Trainer with
           bf16=True); hf_full_compile the same under torch.compile (torch_compile=True)
  hone_*   Hone's engine process (`python -m hone_engine`), fed the same LmTrainJob the
           TypeScript orchestrator writes, on shards of the same tokens
  hf_qlora     QLoRA as the PEFT docs write it: a 4-bit NF4 base (bitsandbytes, double quant,
               bf16 compute), prepare_model_for_kbit_training, LoRA r=16 on all linear layers
  hone_qlora   the engine's adapter.quantize nf4 (the same job with the base's dtype "nf4")
  unsloth_lora, unsloth_qlora   Unsloth's FastLanguageModel (bf16 / 4-bit base), its get_peft_model
               on the seven projections, no gradient checkpointing; run them in an invocation of
               their own (Unsloth patches transformers when imported, so it is imported first)
Every run reports its peak GPU memory (allocated; the engine's from its progress events).

Real data (--data DIR, written here by `node bench/lm.mjs shards`): CLINC150 as chat, tokenized,
templated and packed by Hone's TypeScript exactly as `hone train` stages it. Then
  *_packed   a step is --batch packed rows (about 46 conversations a row), sequences kept apart
             by the engine's variable-length attention; hf_lora_packed gives transformers the
             same rows with restarting position ids (its own block-diagonal mask)
  the rest   a step is --unpacked-batch conversations (as many as --batch packed rows hold on
             average), one a row, padded to the step's longest: what the peers do by default
  *_mask     the engine with HONE_PACKED_ATTENTION=mask (transformers' mask instead of varlen)
tokens/s counts real tokens only (no padding); losses are means over the answers' tokens.
--shape picks the model: llama-1b (the 1.24B shape; the real data's vocabulary with --data),
smollm2-135m (the data's own model config, random weights), llama-8b (Llama 3 8B's shape).
Writes $OUT/<--out-name> and prints a table. Usage (device):
  python3 bench/gpu/lm_speed.py [--steps 30] [--batch 8] [--seq 2048] [--shape llama-1b] [--data DIR] [--tiny]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

if any(n.startswith("unsloth") for a in sys.argv for n in a.split(",")):
    import unsloth  # noqa: F401  (before transformers, which it patches)
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "engine"))
from hone_engine.lm import epoch_rows  # noqa: E402  (the same row order for the peer)
from lm_job import shard_ref, train_job  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=30)
p.add_argument("--warmup", type=int, default=8)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--seq", type=int, default=2048)
p.add_argument("--shape", default="llama-1b", choices=["llama-1b", "smollm2-135m", "llama-8b"])
p.add_argument("--data", default=None, help="real shards (node bench/lm.mjs shards): packed and unpacked runs on them")
p.add_argument("--unpacked-batch", type=int, default=None, help="conversations a step unpacked (default: --batch rows' worth)")
p.add_argument("--out-name", default="lm_speed.json")
p.add_argument("--tiny", action="store_true", help="a small model on the CPU: checks the script, measures nothing")
p.add_argument("--only", default="peak,hf_lora,hone_lora,hone_lora_compile,hone_full_compile")
p.add_argument("--engines", default=f"this={ROOT / 'engine'}", help="NAME=DIR,... : engine checkouts to measure, in turn (an A/B of two commits)")
p.add_argument("--rounds", type=int, default=1, help="each engine's runs this many times, engines alternating")
args = p.parse_args()
OUT = Path(os.environ.get("OUT", ROOT / "bench" / "out"))
OUT.mkdir(parents=True, exist_ok=True)
WORK = Path("/tmp/hone-lm-speed")
WORK.mkdir(parents=True, exist_ok=True)
cuda = torch.cuda.is_available() and not args.tiny
device = "cuda" if cuda else "cpu"
only = args.only.split(",")
results = {"gpu": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__, "seq": args.seq, "batch_rows": args.batch, "steps": args.steps}


def sync():
    if cuda:
        torch.cuda.synchronize()


# ---- the data's meta ----
from hone_engine import lm as hone_lm  # noqa: E402  (the engine's own collate: the same batches for the peers)

META = json.loads((Path(args.data) / "meta.json").read_text()) if args.data else None
if META:
    args.seq = META["max_length"]
    results["seq"] = args.seq

# ---- the model ----
from transformers import AutoModelForCausalLM, LlamaConfig  # noqa: E402

SHAPES = {
    "llama-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8, vocab_size=128256),
    "llama-8b": dict(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        tie_word_embeddings=False,
    ),
}
if args.shape == "smollm2-135m":
    if not META:
        raise SystemExit("--shape smollm2-135m takes its config from --data's meta.json")
    c = META["config"]
    keys = (
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "vocab_size",
        "tie_word_embeddings",
        "rms_norm_eps",
    )
    shape = {k: c[k] for k in keys if k in c}
    rope_theta = (c.get("rope_parameters") or {}).get("rope_theta", c.get("rope_theta", 10000.0))
else:
    shape = dict(SHAPES[args.shape])
    rope_theta = 500000.0
if META:
    shape["vocab_size"] = META["config"]["vocab_size"]  # the data's token ids
if args.tiny:
    shape = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=shape["vocab_size"] if META else 512,
    )
shape.setdefault("tie_word_embeddings", True)
model_dir = WORK / ("tiny" if args.tiny else args.shape) / str(shape["vocab_size"])
if not (model_dir / "config.json").exists():
    torch.manual_seed(0)
    cfg = LlamaConfig(**shape, max_position_embeddings=max(4096, args.seq), rope_theta=rope_theta, pad_token_id=0, eos_token_id=1, bos_token_id=None)
    with torch.device(device):  # random weights drawn where they go: an 8B model in seconds, not minutes
        m = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    m.save_pretrained(model_dir, safe_serialization=True)
    del m
# Unsloth loads a tokenizer with the model: the real data's (the shards carry it), else any there is.
for tok_dir in filter(None, [args.data, str(ROOT / ".carry" / "clinc-chat")]):
    for f in ("tokenizer.json", "tokenizer_config.json"):
        if (Path(tok_dir) / f).exists() and not (model_dir / f).exists():
            shutil.copy(Path(tok_dir) / f, model_dir / f)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
from safetensors import safe_open  # noqa: E402

n_params = 0
for f in model_dir.glob("*.safetensors"):
    with safe_open(str(f), "pt") as h:
        n_params += sum(int(np.prod(h.get_slice(k).get_shape())) for k in h.keys())
results.update(parameters=n_params, shape=args.shape, model_config=shape, data=META and {k: v for k, v in META.items() if k != "config"})
L, d, V = shape["num_hidden_layers"], shape["hidden_size"], shape["vocab_size"]
# Training FLOPs per token (PaLM appendix B): 6 x parameters (the tied embedding counts once, as the
# output layer's matmul) + 12 x layers x width x sequence for attention scores and values. On real
# data MFU is not reported: attention's share depends on each conversation's length.
flops_per_token_full = 6 * n_params + 12 * L * d * args.seq
# LoRA: no weight gradients for frozen matrices, so 4 x parameters (forward + input gradients);
# attention has no weights, so its 12 x layers x width x sequence stays whole.
flops_per_token_lora = 4 * n_params + 12 * L * d * args.seq

# ---- the data: random tokens, one sequence per row (all learnt but the first), or the real shards ----
if META:
    real = Path(args.data)
    packed_ref = {
        "tokens": str(real / "train.tokens.u32"),
        "offsets": str(real / "train.offsets.u32"),
        "count": META["conversations"],
        "loss_mask": str(real / "train.mask.u8"),
        "rows": {"offsets": str(real / "train.rows.offsets.u32"), "items": str(real / "train.rows.items.u32"), "count": META["rows"]},
    }
    unpacked_ref = {**packed_ref, "rows": None}
    args.unpacked_batch = args.unpacked_batch or round(args.batch * META["conversations"] / META["rows"])
    results["unpacked_batch"] = args.unpacked_batch
else:
    rows = args.batch * (args.steps + args.warmup + 2)
    rng = np.random.default_rng(0)
    tokens = rng.integers(2, V, size=(rows, args.seq), dtype=np.uint32)
    data = WORK / "data"
    data.mkdir(exist_ok=True)
    (data / "train.tokens.u32").write_bytes(tokens.astype("<u4").tobytes())
    (data / "train.offsets.u32").write_bytes((np.arange(rows + 1, dtype=np.uint32) * args.seq).astype("<u4").tobytes())
    mask = np.ones((rows, args.seq), dtype=np.uint8)
    mask[:, 0] = 0
    (data / "train.mask.u8").write_bytes(mask.tobytes())
    packed_ref = unpacked_ref = shard_ref(data, rows)
    args.unpacked_batch = args.batch
SHARDS = {}


def layout(packed: bool):
    """(shard ref, loaded shard, units a step): packed rows, or one conversation a row."""
    ref = packed_ref if packed else unpacked_ref
    if id(ref) not in SHARDS:
        SHARDS[id(ref)] = hone_lm.load_shard(ref, pairs=False)
    return ref, SHARDS[id(ref)], args.batch if packed else args.unpacked_batch


def step_units(shard_obj, per_step: int, step: int):
    """The rows of a step, as the engine takes them: epoch order a pure function of (seed 0, epoch)."""
    n = len(shard_obj.rows)
    per_epoch = -(-n // per_step)
    epoch, k = divmod(step, per_epoch)
    return epoch_rows(n, 0, epoch)[k * per_step : (k + 1) * per_step]


def step_tokens(shard_obj, per_step: int, step: int) -> int:
    """Real (non-padding) tokens of a step."""
    lengths = np.diff(shard_obj.offsets)
    return int(sum(lengths[shard_obj.rows[u]].sum() for u in step_units(shard_obj, per_step, step)))


def peak():
    n = 8192 if cuda else 256
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync()
    t = time.time()
    for _ in range(10):
        a @ b
    sync()
    return 2 * n**3 * 10 / (time.time() - t)


def lora_config():
    from peft import LoraConfig

    return LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")


def hf_lora(packed=False, liger=False, compile_=False):
    """The peer, as the PEFT docs write it; liger: with Liger's Llama kernels (RMSNorm, SwiGLU, RoPE,
    and the output layer fused with the loss), as `apply_liger_kernel_to_llama()` sets them;
    compile_: each decoder layer torch.compile'd (what transformers' own docs advise for training:
    the whole model's graph breaks at the mask and the loss), shapes left to torch's automatic
    dynamic shapes (one recompile when the batch's width first changes, inside the warm-up)."""
    from peft import get_peft_model

    if liger:
        from liger_kernel.transformers import apply_liger_kernel_to_llama

        apply_liger_kernel_to_llama()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, attn_implementation="sdpa").to(device)
    model = get_peft_model(model, lora_config())
    model.config.use_cache = False
    if compile_:
        for layer in model.base_model.model.model.layers:
            layer.compile()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
    return hf_loop(model, opt, autocast=False, packed=packed)


def hf_qlora():
    """The QLoRA peer, as the PEFT docs write it (gradient checkpointing off, as in every run here)."""
    from peft import get_peft_model, prepare_model_for_kbit_training
    from transformers import BitsAndBytesConfig

    torch.manual_seed(0)
    compute = torch.bfloat16 if cuda else torch.float32
    q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, quantization_config=q, dtype=compute, attn_implementation="sdpa", device_map={"": 0 if cuda else "cpu"}
    )
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = get_peft_model(model, lora_config())
    model.config.use_cache = False
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
    return hf_loop(model, opt, autocast=False)


def unsloth_peer(four_bit: bool, packed: bool = False):
    """Unsloth as its docs write it: FastLanguageModel, get_peft_model on the seven projections;
    packed: the engine's packed rows with restarting position ids, as transformers' packing
    collator hands them (whether Unsloth keeps the sequences apart shows in the loss)."""
    from unsloth import FastLanguageModel

    torch.manual_seed(0)
    model, _ = FastLanguageModel.from_pretrained(str(model_dir), max_seq_length=args.seq, dtype=torch.bfloat16, load_in_4bit=four_bit, local_files_only=True)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = FastLanguageModel.get_peft_model(
        model, r=16, lora_alpha=32, lora_dropout=0, target_modules=targets, bias="none", use_gradient_checkpointing=False, random_state=0
    )
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
    return hf_loop(model, opt, autocast=False, packed=packed)


def hf_full(compile_: bool):
    """The full fine-tuning peer, as the Trainer runs it with bf16=True: fp32 master weights and fp32
    AdamW state (fused), bf16 autocast, SDPA; with compile_, torch.compile of the whole model (the
    Trainer's torch_compile=True). The same precision as Hone's full fine-tuning."""
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa").to(device)
    model.config.use_cache = False
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0, fused=cuda)
    return hf_loop(torch.compile(model) if compile_ else model, opt, autocast=True)


def hf_loop(model, opt, autocast: bool, packed: bool = False):
    """The peers' loop: the same rows in the same order as the engine (its collate makes the batch:
    one sequence a row padded to the step's longest, or packed rows with restarting positions),
    loss from model(labels=...): the mean over the learnt tokens, as the engine's."""
    _, data, per_step = layout(packed)
    losses, t0, real = [], None, 0
    model.train()
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            sync()
            t0 = time.time()
        units = step_units(data, per_step, step)
        batch = hone_lm.collate(data, [data.rows[u] for u in units], 0, pack=packed)
        inputs = {"input_ids": batch["input_ids"].to(device), "labels": batch["labels"].to(device)}
        if batch["position_ids"] is not None:
            inputs["position_ids"] = batch["position_ids"].to(device)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
            loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step >= args.warmup:
            real += batch["tokens"]
    sync()
    dt = time.time() - t0
    out = {
        "tokens_per_s": real / dt,
        "losses": losses,
        "max_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else 0,
        "max_reserved_gib": torch.cuda.max_memory_reserved() / 2**30 if cuda else 0,
    }
    del model, opt
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return out


ENGINES = dict(e.split("=", 1) for e in args.engines.split(","))
engine_dir = str(ROOT / "engine")  # the engine hone() runs; set per run below


def hone(method: str, compile_: bool, dtype: str, fsdp: bool = False, targets="all-linear", packed=False, mask=False, ckpt=False, offload=False, budget=1.0):
    """The engine as `hone train` runs it: one LmTrainJob line on stdin, events on stdout."""
    name = f"run-{method}-{dtype}-{compile_}{'-fsdp' if fsdp else ''}{'' if targets == 'all-linear' else '-one'}{'-packed' if packed else ''}{'-mask' if mask else ''}{f'-ckpt{ckpt}' if ckpt else ''}{'-offload' if offload else ''}{f'-budget{budget}' if budget < 1 else ''}"
    ref, data, per_step = layout(packed)
    job = train_job(WORK / name, model_dir, ref, per_step, args.warmup + args.steps, method, compile_, dtype, cuda, fsdp, targets, ckpt, offload, budget)
    # An older engine's protocol lacks fields added since; its strict schema would refuse them.
    known = json.loads((Path(engine_dir) / "hone_engine" / "protocol.schema.json").read_text())["$defs"]["Job"]
    if "eval_first" not in json.dumps(known):
        job.pop("eval_first")
    if "optimizer_offload" not in json.dumps(known):
        job["runtime"].pop("optimizer_offload")
    if "activation_budget" not in json.dumps(known):
        job["runtime"].pop("activation_budget")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [engine_dir, os.environ.get("PYTHONPATH")]))}
    if mask:
        env["HONE_PACKED_ATTENTION"] = "mask"
    # The engine's events and its own log (warnings; with TORCH_LOGS=recompiles, why torch compiled
    # again) go to files as they come, so a run cut short by a time limit still leaves them.
    stem = f"{args.shape}-{Path(job['run_dir']).name}"
    log = open(OUT / f"stderr-{stem}.txt", "w")
    sink = open(OUT / f"events-{stem}.jsonl", "w")
    # stdin stays open while it trains, as the orchestrator keeps it: EOF would mean "orchestrator gone, stop".
    proc = subprocess.Popen([sys.executable, "-u", "-m", "hone_engine"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    proc.stdin.write(json.dumps(job) + "\n")
    proc.stdin.flush()
    lines = []
    for line in proc.stdout:
        lines.append(line)
        sink.write(line)
        sink.flush()
        if '"type": "eval"' in line:
            proc.stdin.write(json.dumps({"type": "continue"}) + "\n")
            proc.stdin.flush()
        if '"type": "done"' in line or '"type": "error"' in line:
            break
    proc.stdin.close()
    proc.wait()
    sink.close()
    log.close()
    stderr = (OUT / f"stderr-{stem}.txt").read_text()
    events = [json.loads(l) for l in lines if l.startswith("{")]
    err = [e for e in events if e["type"] == "error"]
    if proc.returncode != 0 or err:
        raise RuntimeError(f"engine failed: {err or stderr[-3000:]}")
    prog = [e for e in events if e["type"] == "progress"]
    # Progress comes at most once a second: time between the first report after warm-up and the last.
    b = prog[-1]
    a = next((e for e in prog[:-1] if e["step"] >= args.warmup), None)
    if a is None:
        if not args.tiny:
            raise RuntimeError(f"the timed part was shorter than a second: raise --steps ({[(e['step'], e['elapsed_s']) for e in prog]})")
        a = {"step": 0, "elapsed_s": 0.0}
    memory = b.get("memory") or {}  # engines before peak memory reported none
    real = sum(step_tokens(data, per_step, s) for s in range(a["step"], b["step"]))
    started = next((e for e in events if e["type"] == "started"), {})
    return {
        "tokens_per_s": real / (b["elapsed_s"] - a["elapsed_s"]),
        "losses": [e["loss"] for e in prog],
        "loss_steps": [e["step"] for e in prog],  # progress comes once a second: the step of each loss
        "steps_timed": b["step"] - a["step"],
        "max_memory_gib": (memory.get("allocated_bytes") or 0) / 2**30,
        "max_reserved_gib": (memory.get("reserved_bytes") or 0) / 2**30,
        "started": {k: v for k, v in started.items() if k != "type"},
        # Every progress event (about once a second): what happened inside the timed window.
        "progress": [
            {
                "step": e["step"],
                "elapsed_s": e["elapsed_s"],
                "tokens_per_s": e["tokens_per_s"],
                "allocated_gib": ((e.get("memory") or {}).get("allocated_bytes") or 0) / 2**30,
            }
            for e in prog
        ],
    }


runs = {
    "peak": lambda: {"flops": peak()},
    "hf_lora": hf_lora,
    "hf_lora_packed": lambda: hf_lora(packed=True),
    "hf_lora_liger": lambda: hf_lora(liger=True),
    "hf_lora_liger_packed": lambda: hf_lora(packed=True, liger=True),
    "hf_lora_compile": lambda: hf_lora(compile_=True),
    "hf_lora_compile_packed": lambda: hf_lora(packed=True, compile_=True),
    "hf_full": lambda: hf_full(False),
    "hf_full_compile": lambda: hf_full(True),
    "hone_lora": lambda: hone("lora", False, "bf16"),
    "hone_lora_compile": lambda: hone("lora", True, "bf16"),
    "hone_lora_compile_packed": lambda: hone("lora", True, "bf16", packed=True),
    "hone_lora_compile_packed_mask": lambda: hone("lora", True, "bf16", packed=True, mask=True),
    # Memory for speed: activation checkpointing of every decoder layer, and of the first half
    "hone_lora_compile_ckpt": lambda: hone("lora", True, "bf16", ckpt=True),
    "hone_lora_compile_ckpt_half": lambda: hone("lora", True, "bf16", ckpt=L // 2),
    "hone_lora_packed": lambda: hone("lora", False, "bf16", packed=True),
    "hone_lora_compile_packed_ckpt_half": lambda: hone("lora", True, "bf16", packed=True, ckpt=L // 2),
    # Memory for speed without checkpointing: train.activation_budget (the compiler recomputes the
    # cheapest share of a layer's activations in the backward pass)
    "hone_lora_compile_packed_b90": lambda: hone("lora", True, "bf16", packed=True, budget=0.9),
    "hone_lora_compile_packed_b80": lambda: hone("lora", True, "bf16", packed=True, budget=0.8),
    "hone_lora_compile_packed_b60": lambda: hone("lora", True, "bf16", packed=True, budget=0.6),
    "hone_lora_compile_packed_b40": lambda: hone("lora", True, "bf16", packed=True, budget=0.4),
    "hone_lora_compile_b80": lambda: hone("lora", True, "bf16", budget=0.8),
    "hone_lora_compile_b60": lambda: hone("lora", True, "bf16", budget=0.6),
    "hone_full_compile_b60": lambda: hone("none", True, "fp32", budget=0.6),
    "hone_full_compile": lambda: hone("none", True, "fp32"),
    # Memory for speed: AdamW's moments and update in host memory (engine offload.py)
    "hone_full_compile_offload": lambda: hone("none", True, "fp32", offload=True),
    "hone_lora_compile_offload": lambda: hone("lora", True, "bf16", offload=True),
    "hf_qlora": hf_qlora,
    "hone_qlora": lambda: hone("lora", False, "nf4"),
    "hone_qlora_compile": lambda: hone("lora", True, "nf4"),
    "hone_qlora_compile_packed": lambda: hone("lora", True, "nf4", packed=True),
    "unsloth_lora": lambda: unsloth_peer(False),
    "unsloth_qlora": lambda: unsloth_peer(True),
    "unsloth_lora_packed": lambda: unsloth_peer(False, packed=True),
    # FSDP2 in a group of one process: checks sharding on a GPU (mixed bf16/fp32 units, compile), and its cost
    "hone_lora_compile_fsdp": lambda: hone("lora", True, "bf16", fsdp=True),
    "hone_full_compile_fsdp": lambda: hone("none", True, "fp32", fsdp=True),
    # A bound, not a method: one adapter, on the first layer's q_proj, so every layer still takes its
    # input gradient but the adapters' side paths (thin matmuls, scale, add) all but vanish. How fast
    # LoRA could get by fusing those paths away, and nothing else.
    "hone_lora_bound": lambda: hone("lora", True, "bf16", targets=["layers.0.self_attn.q_proj"]),
}
for rnd in range(args.rounds):
    for label, engine_dir in ENGINES.items():
        for name in only:
            if rnd > 0 and not name.startswith("hone_"):
                continue
            key = name if len(ENGINES) == 1 and args.rounds == 1 or not name.startswith("hone_") else f"{name}@{label}#{rnd}"
            if key in results:
                continue
            t = time.time()
            try:
                results[key] = runs[name]()
            except Exception as e:  # one failed run must not lose the others' numbers
                results[key] = {"error": f"{type(e).__name__}: {str(e)[-2000:]}"}
                print(f"{key}: FAILED {results[key]['error'][:500]}", flush=True)
                if cuda:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                continue
            results[key]["wall_s"] = time.time() - t
            results[key]["engine"] = engine_dir
            print(f"{key}: {json.dumps({k: v for k, v in results[key].items() if k not in ('losses', 'started')})}", flush=True)
            (OUT / args.out_name).write_text(json.dumps(results, indent=2))  # what ran so far survives a time-out
only = [k for k in results if k.split("@")[0] in runs and isinstance(results[k], dict) and "error" not in results[k]]

(OUT / args.out_name).write_text(json.dumps(results, indent=2))
pk = results.get("peak", {}).get("flops")
print(
    f"\n{results['gpu']}, {args.shape}, {n_params / 1e9:.2f}B parameters, {'CLINC150 chat' if META else 'random rows of ' + str(args.seq)}, {args.steps} timed steps"
)
print("| run | tokens/s | vs the same kind of HF peer | MFU | peak GiB | loss first -> last |")
print("|---|---:|---:|---:|---:|---|")
# Like by like: LoRA against the LoRA peer, QLoRA against the QLoRA peer, full fine-tuning against
# the faster full fine-tuning peer.
base_lora = results.get("hf_lora", {}).get("tokens_per_s")
base_qlora = results.get("hf_qlora", {}).get("tokens_per_s")
base_full = max((results[k]["tokens_per_s"] for k in ("hf_full", "hf_full_compile") if k in results and "tokens_per_s" in results[k]), default=None)
for name in only:
    r = results[name]
    if "tokens_per_s" not in r:
        continue
    kind = name.split("@")[0]
    full = "_full" in kind
    fpt = flops_per_token_full if full else flops_per_token_lora
    base = base_full if full else base_qlora if "qlora" in kind else base_lora
    mfu = f"{100 * r['tokens_per_s'] * fpt / pk:.1f}%" if pk and not META else "-"
    ratio = f"{r['tokens_per_s'] / base:.2f}x" if base else "-"
    print(f"| {name} | {r['tokens_per_s']:.0f} | {ratio} | {mfu} | {r.get('max_memory_gib', 0):.1f} | {r['losses'][0]:.4f} -> {r['losses'][-1]:.4f} |")
if pk:
    print(f"\nbf16 matmul peak measured: {pk / 1e12:.0f} TFLOP/s")
