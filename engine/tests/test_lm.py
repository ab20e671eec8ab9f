"""Generative recipes on a tiny random Llama: packing without cross-contamination, exact losses for
a fixed seed, resume, merge, generation."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import EXAMPLE, Recorder
from hone_engine import lm
from hone_engine.recipes import lm_generate, lm_merge, lm_train
from hone_engine.testing.tiny_lm import build
from tokenizers import Tokenizer

QA = [
    ("what is the refund window?", "thirty days from delivery."),
    ("do you ship abroad?", "yes, to most of europe."),
    ("how do i reset my password?", "use the forgot password link."),
    ("can i pay with paypal?", "yes, paypal is accepted."),
]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    return build(str(tmp_path_factory.mktemp("tiny-lm")), [str(EXAMPLE)])


def encode(tok, q, a):
    prompt = tok.encode(f"<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False).ids
    answer = tok.encode(a + "<|im_end|>", add_special_tokens=False).ids
    return prompt + answer, [0] * len(prompt) + [1] * len(answer), prompt


def write_lm_shard(directory: Path, name: str, seqs, rows=None, masks=True):
    """The same binary layout as writeLmShard in src/tokenize/shards.ts."""
    directory.mkdir(parents=True, exist_ok=True)
    tokens = np.array([t for s in seqs for t in s[0]], dtype="<u4")
    offsets = np.concatenate([[0], np.cumsum([len(s[0]) for s in seqs])]).astype("<u4")
    (directory / f"{name}.tokens.u32").write_bytes(tokens.tobytes())
    (directory / f"{name}.offsets.u32").write_bytes(offsets.tobytes())
    ref = {
        "tokens": str(directory / f"{name}.tokens.u32"),
        "offsets": str(directory / f"{name}.offsets.u32"),
        "count": len(seqs),
        "loss_mask": None,
        "rows": None,
    }
    if masks:
        (directory / f"{name}.mask.u8").write_bytes(np.array([m for s in seqs for m in s[1]], dtype=np.uint8).tobytes())
        ref["loss_mask"] = str(directory / f"{name}.mask.u8")
    if rows:
        items = np.array([i for r in rows for i in r], dtype="<u4")
        row_offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype("<u4")
        (directory / f"{name}.rows.items.u32").write_bytes(items.tobytes())
        (directory / f"{name}.rows.offsets.u32").write_bytes(row_offsets.tobytes())
        ref["rows"] = {"offsets": str(directory / f"{name}.rows.offsets.u32"), "items": str(directory / f"{name}.rows.items.u32"), "count": len(rows)}
    return ref


def sft_job(tiny_lm, tmp_path, method="lora", steps=8, eval_every=4, resume=None, run_dir=None):
    tok = Tokenizer.from_file(str(tiny_lm / "tokenizer.json"))
    seqs = [encode(tok, q, a) for q, a in QA]
    data = tmp_path / "data"
    return {
        "kind": "lm.train",
        "protocol_version": 1,
        "run_dir": str(run_dir or tmp_path / "run"),
        "objective": "sft",
        "model": {"path": str(tiny_lm), "adapter": None, "architecture": "causal", "head": "lm", "dtype": "fp32", "pad_token_id": 0},
        "adapter": {"method": method, "r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"},
        "data": {"train": write_lm_shard(data, "train", seqs, rows=[[0, 1], [2, 3]]), "validation": write_lm_shard(data, "validation", seqs)},
        "optim": {
            "seed": 3,
            "lr": 1e-2 if method != "none" else 3e-3,
            "weight_decay": 0.0,
            "betas": [0.9, 0.999],
            "eps": 1e-8,
            "max_grad_norm": 1.0,
            "scheduler": "linear",
            "warmup_steps": 1,
            "batch_size": 1,
            "grad_accum": 1,
            "steps_per_epoch": 2,
            "total_steps": steps,
            "eval_batch_size": 4,
        },
        "freeze": {"embeddings": False, "layers": 0, "patterns": []},
        "dpo": {"loss": "dpo", "beta": 0.1, "gamma_beta_ratio": 0.5, "desirable_weight": 1.0, "undesirable_weight": 1.0},
        "eval_every": eval_every,
        "runtime": {
            "device": "cpu",
            "precision": "fp32",
            "threads": 1,
            "compile": False,
            "gradient_checkpointing": False,
            "processes": 1,
            "nodes": 1,
            "fsdp": False,
            "optimizer_offload": False,
            "activation_budget": 1.0,
        },
        "resume_from": resume,
        "eval_first": False,
    }, seqs


def train(job):
    rec = Recorder(job)
    rec.channel.read_job()
    lm_train.run(job, rec.channel)
    return rec.events()


def test_packed_rows_score_each_sequence_as_if_alone(tiny_lm, tmp_path):
    """Packing must not let a sequence see its neighbours: summed log-probabilities of sequences
    packed in rows (the second row shorter, so it ends in padding) equal those of each sequence on
    a row of its own, through the variable-length attention (its boundaries from collate) and
    through transformers' own block-diagonal mask (from the restarting positions alone)."""
    tok = Tokenizer.from_file(str(tiny_lm / "tokenizer.json"))
    seqs = [encode(tok, q, a) for q, a in QA]
    shard = lm.load_shard(write_lm_shard(tmp_path, "s", seqs), pairs=False)
    model = lm.load(
        {"path": str(tiny_lm), "adapter": None, "architecture": "causal", "head": "lm", "dtype": "fp32", "pad_token_id": 0}, None, trainable=False
    ).eval()
    assert model.config._attn_implementation == lm.varlen.ATTENTION
    rows = [np.array([0, 1, 2]), np.array([3])]
    with torch.no_grad():
        batch = lm.collate(shard, rows, 0, pack=True)
        width = batch["input_ids"].shape[1]
        lengths = [len(s[0]) for s in seqs]
        assert width == sum(lengths[:3])  # the first row is full; the second ends in a padding "sequence"
        assert batch["cu_seq_lens"].tolist() == [0, *np.cumsum(lengths[:3]).tolist(), width + lengths[3], 2 * width]
        packed, n_packed = lm.sequence_logps(model, batch, "cpu", with_grad=False)
        by_mask, _ = lm.sequence_logps(model, {**batch, "cu_seq_lens": None}, "cpu", with_grad=False)
        alone, n_alone = lm.sequence_logps(model, lm.collate(shard, [np.array([i]) for i in range(4)], 0, pack=False), "cpu", with_grad=False)
        # The same rows without position restarts or boundaries: what packing would be without them.
        leaky, _ = lm.sequence_logps(model, {**batch, "cu_seq_lens": None, "position_ids": torch.arange(width)[None].expand(2, -1)}, "cpu", with_grad=False)
    assert torch.equal(n_packed, n_alone) and n_packed.tolist() == [sum(s[1][1:]) for s in seqs]
    # Unpacked lines carry no positions: transformers then attends causally without a mask.
    assert lm.collate(shard, [np.array([0]), np.array([1])], 0, pack=False)["position_ids"] is None
    assert torch.allclose(packed, alone, atol=1e-4), (packed, alone)
    assert torch.allclose(by_mask, alone, atol=1e-4), (by_mask, alone)
    assert not torch.allclose(leaky[1:3], alone[1:3], atol=1e-3)


def test_packed_batches_of_one_shape_score_as_their_own(tiny_lm, tmp_path, monkeypatch):
    """A run of short packed sequences on a GPU gives every batch one shape (varlen.flex_width: the
    widest row in whole 128-token blocks) and attends through FlexAttention with the block mask
    alone: a short batch gets lines of padding, and each sequence scores as in its own batch (here
    on the CPU through torch's reference flex_attention)."""
    tok = Tokenizer.from_file(str(tiny_lm / "tokenizer.json"))
    seqs = [encode(tok, q, a) for q, a in QA]
    shard = lm.load_shard(write_lm_shard(tmp_path, "s", seqs, rows=[[0, 1], [2, 3]]), pairs=False)
    tokens, _ = shard.row_sizes()
    assert lm.varlen.flex_width(tokens, shard.count, "cpu") is None  # no Flash kernels: the variable-length path
    monkeypatch.setattr(lm.varlen, "fast_kernels", lambda device: True)
    width = lm.varlen.flex_width(tokens, shard.count, "cuda")
    assert width == 128 and width >= tokens.max()
    assert lm.varlen.flex_width(tokens, int(tokens.sum()) // lm.varlen.FLEX_BELOW, "cuda") is None  # long sequences
    model = lm.load(
        {"path": str(tiny_lm), "adapter": None, "architecture": "causal", "head": "lm", "dtype": "fp32", "pad_token_id": 0}, None, trainable=False
    ).eval()
    rows = [np.array([0, 1]), np.array([2])]
    batch = lm.collate(shard, rows, 0, pack=True, shape=(3, width))
    assert batch["input_ids"].shape == (3, width) and batch["sequences"] == 3
    assert batch["cu_seq_lens"].tolist()[-2:] == [2 * width, 3 * width]  # the added line: one padding "sequence"
    with pytest.raises(ValueError, match="shaped for 8"):
        lm.collate(shard, rows, 0, pack=True, shape=(3, 8))
    with torch.no_grad():
        free, n_free = lm.sequence_logps(model, lm.collate(shard, rows, 0, pack=True), "cpu", with_grad=False)
        lm.causal(model).hone_flex_width = width
        shaped, n_shaped = lm.sequence_logps(model, batch, "cpu", with_grad=False)
        alone, _ = lm.sequence_logps(model, lm.collate(shard, [np.array([i]) for i in range(3)], 0, pack=False), "cpu", with_grad=False)
    assert torch.equal(n_shaped, n_free)
    assert torch.allclose(shaped, alone, atol=1e-4), (shaped, alone)
    assert torch.allclose(free, alone, atol=1e-4), (free, alone)


@pytest.mark.skipif(not (torch.cuda.is_available() and lm.varlen.fast_kernels("cuda")), reason="FlexAttention's one-shape path: a GPU of Ampere or newer")
def test_packed_run_of_one_shape_trains_as_the_variable_length_kernel(tiny_lm, tmp_path, monkeypatch):
    """On a GPU, a compiled packed run of short sequences takes the one-shape FlexAttention path
    (the last, short batch filled with a line of padding) and learns what the uncompiled run does
    with the variable-length kernel: the same validation losses within bf16 noise."""
    widths = []
    plan = lm.varlen.flex_width
    monkeypatch.setattr(lm.varlen, "flex_width", lambda *a: widths.append(plan(*a)) or widths[-1])

    def job(name, compiled):
        j, seqs = sft_job(tiny_lm, tmp_path / name, steps=4, eval_every=2)
        j["data"]["train"] = write_lm_shard(tmp_path / name / "data", "train", seqs, rows=[[0, 1], [2], [3]])
        j["optim"] = {**j["optim"], "batch_size": 2, "steps_per_epoch": 2}
        j["runtime"] = {**j["runtime"], "device": "cuda", "precision": "bf16", "compile": compiled}
        return j

    eager = [e["loss"] for e in train(job("eager", False)) if e["type"] == "eval"]
    assert widths == []  # uncompiled: the variable-length kernel, no plan asked for
    compiled = [e["loss"] for e in train(job("compiled", True)) if e["type"] == "eval"]
    assert widths == [128]
    assert compiled == pytest.approx(eager, rel=2e-2), (compiled, eager)
    assert compiled[-1] < compiled[0]  # it learns


def test_unpacked_rows_attend_causally_without_the_packed_sequence_check(tiny_lm, tmp_path, monkeypatch):
    """One sequence a row: the engine tells transformers the attention is causal, so its
    packed-sequence check (a device value read back every forward pass: a host sync on a GPU)
    never runs, and the log-probabilities are those of the model's own forward pass."""
    import transformers.masking_utils as masking

    tok = Tokenizer.from_file(str(tiny_lm / "tokenizer.json"))
    shard = lm.load_shard(write_lm_shard(tmp_path, "s", [encode(tok, q, a) for q, a in QA]), pairs=False)
    model = lm.load(
        {"path": str(tiny_lm), "adapter": None, "architecture": "causal", "head": "lm", "dtype": "fp32", "pad_token_id": 0}, None, trainable=False
    ).eval()
    batch = lm.collate(shard, [np.array([i]) for i in range(4)], 0, pack=False)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"]).logits  # transformers' own path: it checks the positions
        want = torch.log_softmax(logits.float(), -1).reshape(-1, logits.shape[-1])[batch["learnt_index"], batch["targets"]]
        monkeypatch.setattr(masking, "find_packed_sequence_indices", lambda *a, **k: pytest.fail("packed-sequence check ran"))
        got = lm.token_logps(model, batch, "cpu", with_grad=False)[0]
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


@pytest.mark.parametrize("masked", [False, True])
def test_varlen_attention_matches_masked_sdpa_with_gradients(masked):
    """The attention function itself, grouped-query shapes, padding as a sequence of its own:
    outputs and q/k/v gradients equal SDPA's with the block-diagonal causal mask. On a GPU the
    variable-length Flash kernel runs (bf16, its tolerance), or with `masked` the path of GPUs
    older than Ampere; on the CPU the reference path (which `masked` also takes)."""
    cuda = torch.cuda.is_available()
    dev, dt, tol = ("cuda", torch.bfloat16, 2e-2) if cuda else ("cpu", torch.float32, 1e-5)
    assert lm.varlen.fast_kernels(dev) == (cuda and torch.cuda.get_device_capability() >= (8, 0))
    lm.varlen.register()
    torch.manual_seed(0)
    b, hq, hkv, s, d = 2, 4, 2, 24, 16
    q, k, v = (torch.randn(b, h, s, d, device=dev, dtype=dt, requires_grad=True) for h in (hq, hkv, hkv))
    cu, longest = lm.varlen.boundaries([[5, 11, 3], [20]], s)
    assert cu.tolist() == [0, 5, 16, 19, 24, 44, 48] and longest == 20
    module = torch.nn.Module()
    out, _ = lm.varlen.attention(module, q, k, v, lm.varlen.PACKED, scaling=d**-0.5, cu_seq_lens=cu.to(dev), max_length=longest, masked=masked)
    seq = torch.repeat_interleave(torch.arange(6), (cu[1:] - cu[:-1]).long()).view(b, s)
    pos = torch.arange(s)
    mask = (seq[:, :, None] == seq[:, None, :]) & (pos[:, None] >= pos[None, :])
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None].to(dev), scale=d**-0.5, enable_gqa=True).transpose(1, 2)
    g = torch.randn_like(ref)
    got = torch.autograd.grad(out, (q, k, v), g)
    want = torch.autograd.grad(ref, (q, k, v), g)
    assert out.shape == (b, s, hq, d)
    assert torch.allclose(out.float(), ref.float(), atol=tol)
    for a, w in zip(got, want):
        assert torch.allclose(a.float(), w.float(), atol=tol)


@pytest.mark.parametrize("path", ["varlen", "flex"])
def test_packed_attention_takes_queries_lifted_to_fp32_by_rotary_embeddings(path):
    """bf16 autocast over fp32 weights: queries and keys reach attention in fp32 (the rotary
    embedding's fp32 cos and sin lift them), values in bf16. The packed paths compute as SDPA would
    under autocast, in bf16 (Flash's kernel refuses fp32: a packed run of an fp32 checkpoint on a
    GPU failed there), and give what they give all-bf16 inputs."""
    dev = "cuda" if torch.cuda.is_available() and lm.varlen.fast_kernels("cuda") else "cpu"
    lm.varlen.register()
    torch.manual_seed(0)
    b, hq, hkv, s, d = 2, 4, 2, 128, 16
    q, k, v = (torch.randn(b, h, s, d, device=dev).to(torch.bfloat16) for h in (hq, hkv, hkv))
    cu, longest = lm.varlen.boundaries([[50, 70, 8], [100]], s)
    cu = cu.to(dev)
    module = torch.nn.Module()
    if path == "flex":
        blocks = lm.varlen.flex_mask(cu, b, s)
        kwargs = {"packed_blocks": blocks}
    else:
        kwargs = {"cu_seq_lens": cu, "max_length": longest}
    lifted, _ = lm.varlen.attention(module, q.float(), k.float(), v, lm.varlen.PACKED, scaling=d**-0.5, **kwargs)
    same, _ = lm.varlen.attention(module, q, k, v, lm.varlen.PACKED, scaling=d**-0.5, **kwargs)
    assert lifted.dtype == torch.bfloat16
    assert torch.equal(lifted, same)


def test_flex_attention_matches_masked_sdpa():
    """Compiled layers attend through FlexAttention when a packed batch brings its block mask
    (varlen.flex_mask), for a second batch of another layout too (a mask of our own once gave every
    batch the first batch's mask in compiled code). Outputs (on a GPU, the q/k/v gradients too;
    FlexAttention has no CPU backward) against fp32 SDPA with the block-diagonal causal mask: no
    further off than bf16 SDPA with that mask is (bf16 noise), on the CPU in fp32 equal."""
    cuda = torch.cuda.is_available()
    dev, dt = ("cuda", torch.bfloat16) if cuda else ("cpu", torch.float32)
    torch.manual_seed(0)
    torch._dynamo.reset()
    b, hq, hkv, s, d = 2, 4, 2, 256, 16
    module = torch.nn.Module()

    @torch.compile(dynamic=False)
    def layer(q, k, v, blocks):  # the block mask alone, as a run of one shape hands it (logp.py)
        return lm.varlen.attention(module, q, k, v, lm.varlen.PACKED, scaling=d**-0.5, packed_blocks=blocks)[0]

    def sdpa(q, k, v, mask):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None].to(dev), scale=d**-0.5, enable_gqa=True).transpose(1, 2)

    def outputs_and_grads(out, inputs, g):
        return [out.float()] + ([t.float() for t in torch.autograd.grad(out, inputs, g.to(out.dtype))] if cuda else [])

    for lengths in ([[5, 110, 30], [200]], [[64, 64, 64], [17, 3, 150]]):
        q, k, v = (torch.randn(b, h, s, d, device=dev, dtype=dt, requires_grad=cuda) for h in (hq, hkv, hkv))
        q32, k32, v32 = (t.detach().float().requires_grad_(cuda) for t in (q, k, v))
        cu, _ = lm.varlen.boundaries(lengths, s)
        seq = torch.repeat_interleave(torch.arange(len(cu) - 1), (cu[1:] - cu[:-1]).long()).view(b, s)
        pos = torch.arange(s)
        mask = (seq[:, :, None] == seq[:, None, :]) & (pos[:, None] >= pos[None, :])
        out = layer(q, k, v, lm.varlen.flex_mask(cu.to(dev), b, s))
        assert out.shape == (b, s, hq, d)
        g = torch.randn(b, s, hq, d, device=dev)
        flex = outputs_and_grads(out, (q, k, v), g)
        same_dtype = outputs_and_grads(sdpa(q, k, v, mask), (q, k, v), g)
        want = outputs_and_grads(sdpa(q32, k32, v32, mask), (q32, k32, v32), g)
        for got, noise, w in zip(flex, same_dtype, want):
            err, bound = (got - w).abs().max().item(), 2 * (noise - w).abs().max().item() + 1e-4
            assert err <= bound, (lengths, err, bound)


def test_sft_losses_for_a_fixed_seed(tiny_lm, tmp_path):
    """torchtune-style: exact validation losses of a fixed seed (CPU, fp32). A change here means
    the recipe computes something else; re-record deliberately."""
    job, _ = sft_job(tiny_lm, tmp_path, steps=4, eval_every=2)
    events = train(job)
    losses = [round(e["loss"], 4) for e in events if e["type"] == "eval"]
    assert losses == pytest.approx([5.7439, 4.9718], abs=2e-4), losses
    assert [e["type"] for e in events][-1] == "done"


def test_lora_resume_continues_exactly(tiny_lm, tmp_path):
    full, _ = sft_job(tiny_lm, tmp_path / "a", steps=6, eval_every=3)
    straight = [e["loss"] for e in train(full) if e["type"] == "eval"]
    first, _ = sft_job(tiny_lm, tmp_path / "b", steps=6, eval_every=3)
    events = train({**first, "optim": {**first["optim"]}, "eval_every": 3})
    ckpt = [e for e in events if e["type"] == "checkpoint"][0]["path"]
    resumed_job = {**first, "resume_from": ckpt}
    resumed = [e["loss"] for e in train(resumed_job) if e["type"] == "eval"]
    assert resumed[-1] == pytest.approx(straight[-1], abs=1e-6)
    # A checkpoint holds the adapter only, as peft saves it.
    assert sorted(p.name for p in (Path(ckpt) / "model").iterdir() if p.suffix in (".json", ".safetensors")) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]


def test_optimizer_offload_trains_as_on_the_device_and_shares_its_checkpoints(tiny_lm, tmp_path):
    """AdamW's state in host memory (offload.py): full fine-tuning gives the device optimizer's
    losses (the CPU's fused AdamW against its foreach one: float rounding apart); a checkpoint
    saved with offload resumes without it, and the reverse, continuing as the straight run."""

    def job(name, offload, steps=6, resume=None):
        j, _ = sft_job(tiny_lm, tmp_path / name, method="none", steps=steps, eval_every=3, resume=resume)
        j["runtime"] = {**j["runtime"], "optimizer_offload": offload}
        return j

    losses = lambda events: [e["loss"] for e in events if e["type"] == "eval"]  # noqa: E731
    plain, offloaded = train(job("plain", False)), train(job("offloaded", True))
    assert losses(offloaded) == pytest.approx(losses(plain), abs=1e-5)
    assert losses(offloaded)[-1] < losses(offloaded)[0] - 0.1  # it learns
    for saved_with, resumed_with in ((True, False), (False, True)):
        events = plain if not saved_with else offloaded
        ckpt = [e for e in events if e["type"] == "checkpoint"][0]["path"]
        resumed = losses(train(job(f"resumed-{resumed_with}", resumed_with, resume=ckpt)))
        assert resumed[-1] == pytest.approx(losses(plain)[-1], abs=1e-5)


def test_fsdp_trains_and_resumes_as_one_unsharded_process(tiny_lm, tmp_path):
    """FSDP2 on one process (a group of one): the same losses as without it, checkpoints in the same
    format (gathered whole), and a run resumed from one continues exactly. Two processes: the
    end-to-end test in src/generative."""

    def fsdp_job(sub, **kw):
        job, _ = sft_job(tiny_lm, tmp_path / sub, **kw)
        return {**job, "runtime": {**job["runtime"], "fsdp": True}}

    plain, _ = sft_job(tiny_lm, tmp_path / "plain", steps=6, eval_every=3)
    expected = [e["loss"] for e in train(plain) if e["type"] == "eval"]
    events = train(fsdp_job("sharded", steps=6, eval_every=3))
    assert [e["loss"] for e in events if e["type"] == "eval"] == pytest.approx(expected, abs=1e-5)
    ckpt = Path([e for e in events if e["type"] == "checkpoint"][0]["path"])
    assert sorted(p.name for p in (ckpt / "model").iterdir() if p.suffix == ".safetensors") == ["adapter_model.safetensors"]
    resumed = [e["loss"] for e in train({**fsdp_job("resumed", steps=6, eval_every=3), "resume_from": str(ckpt)}) if e["type"] == "eval"]
    assert resumed[-1] == pytest.approx(expected[-1], abs=1e-5)


def test_merge_equals_adapter_and_generation_learns_the_answers(tiny_lm, tmp_path):
    job, seqs = sft_job(tiny_lm, tmp_path, method="lora", steps=150, eval_every=150)
    events = train(job)
    adapter = Path([e for e in events if e["type"] == "checkpoint"][-1]["path"]) / "model"
    spec = {"path": str(tiny_lm), "adapter": str(adapter), "architecture": "causal", "head": "lm", "dtype": "fp32", "pad_token_id": 0}

    merged_dir = tmp_path / "merged"
    rec = Recorder({"kind": "lm.merge", "protocol_version": 1, "model": spec, "output": str(merged_dir), "dtype": "fp32"})
    job_m = rec.channel.read_job()
    lm_merge.run(job_m, rec.channel)
    shutil.copy(tiny_lm / "tokenizer.json", merged_dir)
    ids = torch.tensor([seqs[0][0]])
    with torch.no_grad():
        a = lm.load(spec, None, trainable=False).eval()(input_ids=ids).logits
        b = lm.load({**spec, "path": str(merged_dir), "adapter": None}, None, trainable=False).eval()(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-4)

    prompts = write_lm_shard(tmp_path / "p", "prompts", [(s[2], [0] * len(s[2])) for s in seqs], masks=False)
    gen = {
        "kind": "lm.generate",
        "protocol_version": 1,
        "model": spec,
        "prompts": prompts,
        "output_dir": str(tmp_path / "gen"),
        "max_new_tokens": 24,
        "temperature": 0,
        "top_p": 1,
        "seed": 0,
        "stop_token_ids": [2],
        "batch_size": 3,
        "chunks": None,
        "runtime": {"device": "cpu", "precision": "fp32", "threads": 1, "compile": False},
    }
    rec = Recorder(gen)
    rec.channel.read_job()
    lm_generate.run(gen, rec.channel)
    ev = [e for e in rec.events() if e["type"] == "generations"][0]
    tokens, offsets = np.fromfile(ev["tokens"], dtype="<u4"), np.fromfile(ev["offsets"], dtype="<u4")
    tok = Tokenizer.from_file(str(tiny_lm / "tokenizer.json"))
    answers = [tok.decode(tokens[offsets[i] : offsets[i + 1]].tolist()) for i in range(len(QA))]
    assert answers == [a for _, a in QA]
    assert np.fromfile(ev["stopped"], dtype=np.uint8).tolist() == [1] * len(QA)
    assert json.loads((merged_dir / "config.json").read_text())["model_type"] == "llama"

    # In chunks (augmentation): one event per chunk, in order; greedy answers as in one batch; and
    # sampled ones seeded by the chunk's number, so a resume at chunk 1 samples what the whole run did.
    def chunked(job, rows):
        shard = write_lm_shard(tmp_path / f"p{rows[0]}", "prompts", [(seqs[i][2], [0] * len(seqs[i][2])) for i in rows], masks=False)
        rec = Recorder({**job, "prompts": shard})
        rec.channel.read_job()
        lm_generate.run({**job, "prompts": shard}, rec.channel)
        out = []
        for e in (e for e in rec.events() if e["type"] == "generations"):
            t, o = np.fromfile(e["tokens"], dtype="<u4"), np.fromfile(e["offsets"], dtype="<u4")
            out.append((e["chunk"], [t[o[i] : o[i + 1]].tolist() for i in range(e["count"])]))
        return out

    whole = chunked({**gen, "chunks": {"size": 2, "first": 0}}, list(range(len(QA))))
    assert [c for c, _ in whole] == list(range((len(QA) + 1) // 2))
    assert [tok.decode(x) for _, xs in whole for x in xs] == [a for _, a in QA]
    sampled = {**gen, "temperature": 1.0, "top_p": 1.0, "chunks": {"size": 2, "first": 0}}
    full = chunked(sampled, list(range(len(QA))))
    resumed = chunked({**sampled, "chunks": {"size": 2, "first": 1}}, list(range(2, len(QA))))
    assert resumed == full[1:]


def test_frozen_head_gradient_equals_autograd():
    """The fused frozen-output-layer log-probability gives autograd's values and gradients."""
    torch.manual_seed(0)
    w = torch.randn(50, 8) * 0.5
    h1 = torch.randn(12, 8, requires_grad=True)
    h2 = h1.detach().clone().requires_grad_(True)
    y = torch.randint(0, 50, (12,))
    upstream = torch.randn(12)  # per-token weights, as DPO gives them
    a = lm.FrozenHeadLogp.apply(h1, y, w)
    b = -torch.nn.functional.cross_entropy(h2 @ w.t(), y, reduction="none")
    (a * upstream).sum().backward()
    (b * upstream).sum().backward()
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(h1.grad, h2.grad, atol=1e-5)


def test_trained_head_gradients_equal_autograd(monkeypatch):
    """The fused trained-output-layer sum (full fine-tuning) gives autograd's value and both
    gradients, across several chunks (a tied embedding gets its share through the weight)."""
    monkeypatch.setattr(lm, "LOGIT_CHUNK", 5)
    torch.manual_seed(0)
    w1 = (torch.randn(50, 8) * 0.5).requires_grad_(True)
    w2 = w1.detach().clone().requires_grad_(True)
    h1 = torch.randn(12, 8, requires_grad=True)
    h2 = h1.detach().clone().requires_grad_(True)
    y = torch.randint(0, 50, (12,))
    total, per_row = lm.TrainedHeadLogpSum.apply(h1, y, w1)
    b = -torch.nn.functional.cross_entropy(h2 @ w2.t(), y, reduction="none")
    (total * -0.37).backward()
    (b.sum() * -0.37).backward()
    assert torch.allclose(per_row, b.detach(), atol=1e-5) and torch.allclose(total, b.sum(), atol=1e-4)
    assert torch.allclose(h1.grad, h2.grad, atol=1e-5)
    assert torch.allclose(w1.grad, w2.grad, atol=1e-5)


def test_gradient_checkpointing_changes_memory_not_results(tiny_lm, tmp_path, capsys):
    """Every layer (True) or the first N checkpointed: the same losses; the forward pass keeps less
    for the backward pass, the more layers are checkpointed."""
    job, _ = sft_job(tiny_lm, tmp_path / "a", steps=4, eval_every=4)
    plain = [e["loss"] for e in train(job) if e["type"] == "eval"]
    for setting in (True, 1):
        job2, _ = sft_job(tiny_lm, tmp_path / f"b{setting}", steps=4, eval_every=4)
        job2["runtime"] = {**job2["runtime"], "gradient_checkpointing": setting}
        checkpointed = [e["loss"] for e in train(job2) if e["type"] == "eval"]
        assert checkpointed == pytest.approx(plain, abs=1e-5)
    from hone_engine.testing import saved_activations

    kept = []
    for setting in (0, 1, True):
        saved_activations.main(str(tiny_lm), 2, 32, 8, setting)
        kept.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["bytes"])
    assert kept[0] > kept[1] > kept[2], kept


def test_varying_rows_as_wide_as_the_model_compile_once(tiny_lm):
    """Rows of the model's width, then narrower ones: the layers compiled for varying shapes take
    both without compiling again (duck sizing once fixed the length at the width)."""
    from torch._dynamo.utils import counters
    from transformers import AutoModelForCausalLM

    torch._dynamo.reset()
    model = AutoModelForCausalLM.from_pretrained(str(tiny_lm), dtype=torch.float32)
    model.config.use_cache = False  # as training loads it
    width = model.config.hidden_size
    lm.compile_decoder(model, varying=True)
    before = counters["stats"]["unique_graphs"]
    for length in (width, width - 4, width - 9):
        model(input_ids=torch.randint(1, 100, (2, length))).logits.sum().backward()
    assert counters["stats"]["unique_graphs"] - before == 1
    torch._dynamo.reset()


def test_activation_budget_keeps_less_for_the_same_losses(tiny_lm, tmp_path, capsys):
    """train.activation_budget: the compiled layers keep less for the backward pass the lower the
    budget, and training gives the losses of the uncompiled run (recomputing is the same math)."""
    import torch._functorch.config as functorch_config
    from hone_engine.testing import saved_activations

    kept = []
    for budget in (1.0, 0.5):
        saved_activations.main(str(tiny_lm), 2, 32, 8, 0, budget)
        kept.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["bytes"])
    assert kept[1] < 0.8 * kept[0], kept
    job, _ = sft_job(tiny_lm, tmp_path / "a", steps=4, eval_every=4)
    plain = [e["loss"] for e in train(job) if e["type"] == "eval"]
    job, _ = sft_job(tiny_lm, tmp_path / "b", steps=4, eval_every=4)
    job["runtime"] = {**job["runtime"], "compile": True, "activation_budget": 0.5}
    torch._dynamo.reset()
    try:
        budgeted = [e["loss"] for e in train(job) if e["type"] == "eval"]
        assert functorch_config.activation_memory_budget == 0.5
    finally:
        functorch_config.activation_memory_budget = 1.0
        torch._dynamo.reset()
    assert budgeted == pytest.approx(plain, abs=1e-4)


@pytest.mark.parametrize("method", ["dora", "none"])
def test_dora_and_full_fine_tuning_learn(tiny_lm, tmp_path, method):
    job, _ = sft_job(tiny_lm, tmp_path, method=method, steps=12, eval_every=4)
    if method == "none":
        job["freeze"] = {"embeddings": True, "layers": 1, "patterns": []}
    events = train(job)
    losses = [e["loss"] for e in events if e["type"] == "eval"]
    assert losses[-1] < losses[0] - 0.3, losses
    started = next(e for e in events if e["type"] == "started")
    if method == "none":
        # Frozen embeddings (tied to the output layer) and the first block: only block 2 and the norms learn.
        assert 0 < started["trainable_parameters"] < started["parameters"] / 2
    else:
        assert started["trainable_parameters"] < started["parameters"] / 5


def test_serve_cancels_a_running_generation_at_its_next_token_and_skips_a_cancelled_waiting_one(tiny_lm):
    from hone_engine.recipes import lm_serve

    spec = {"path": str(tiny_lm), "adapter": None, "architecture": "causal", "head": "lm", "dtype": "fp32", "pad_token_id": 0}
    ask = lambda i, n: {"type": "generate", "id": i, "prompt": [5, 6, 7], "max_new_tokens": n, "temperature": 0, "top_p": 1, "seed": 0, "stop_token_ids": [1]}  # noqa: E731
    controls = [ask("a", 40), {"type": "cancel", "id": "a"}, ask("b", 5), {"type": "cancel", "id": "c"}, ask("c", 5), {"type": "stop", "reason": "test"}]
    job = {"kind": "lm.serve", "protocol_version": 1, "model": spec, "runtime": {"device": "cpu", "precision": "fp32", "threads": 1, "compile": False}}
    rec = Recorder(job, controls=controls)
    lm_serve.run(rec.channel.read_job(), rec.channel)
    done = {e["id"]: e for e in rec.events() if e["type"] == "generated"}
    assert done["a"]["finish_reason"] == "cancelled" and done["a"]["completion_tokens"] <= 1
    assert done["b"]["finish_reason"] in ("stop", "length") and done["b"]["completion_tokens"] >= 1
    assert done["c"] == {**done["c"], "finish_reason": "cancelled", "completion_tokens": 0}
    assert rec.events()[-1]["type"] == "done"


def test_serve_interleaves_requests_a_short_one_is_not_held_behind_a_long_one(tiny_lm):
    """Two requests at once: the short one ends first; each writes what it would alone (greedy:
    what generate() writes; sampled: the same tokens alone or beside another)."""
    import torch
    from hone_engine import lm
    from hone_engine.recipes import lm_serve

    spec = {"path": str(tiny_lm), "adapter": None, "architecture": "causal", "head": "lm", "dtype": "fp32", "pad_token_id": 0}
    never = [10**6]  # a stop id no model writes: lengths are exact
    ask = lambda i, n, t=0.0: {
        "type": "generate",
        "id": i,
        "prompt": [5, 6, 7],
        "max_new_tokens": n,
        "temperature": t,
        "top_p": 0.9,
        "seed": 3,
        "stop_token_ids": never,
    }  # noqa: E731
    job = {"kind": "lm.serve", "protocol_version": 1, "model": spec, "runtime": {"device": "cpu", "precision": "fp32", "threads": 1, "compile": False}}

    def serve(controls):
        rec = Recorder(job, controls=[*controls, {"type": "stop", "reason": "test"}])
        lm_serve.run(rec.channel.read_job(), rec.channel)
        events = rec.events()
        tokens = {}
        for e in events:
            if e["type"] == "tokens":
                tokens.setdefault(e["id"], []).extend(e["token_ids"])
        return [e["id"] for e in events if e["type"] == "generated"], tokens, events

    order, tokens, events = serve([ask("long", 30), ask("short", 3), ask("sampled", 12, 0.9)])
    assert order == ["short", "sampled", "long"]
    assert [len(tokens[k]) for k in ("long", "short", "sampled")] == [30, 3, 12]
    done = {e["id"]: e for e in events if e["type"] == "generated"}
    assert done["long"]["finish_reason"] == "length" and done["long"]["completion_tokens"] == 30
    # Greedy: exactly generate()'s tokens.
    model = lm.load(spec, None, trainable=False).eval()
    with torch.no_grad():
        ref = model.generate(input_ids=torch.tensor([[5, 6, 7]]), max_new_tokens=30, do_sample=False, pad_token_id=0, eos_token_id=never)
    assert tokens["long"] == ref[0, 3:].tolist()
    assert tokens["short"] == tokens["long"][:3]
    # Sampled: its own generator; the same tokens with or without company.
    _, alone, _ = serve([ask("sampled", 12, 0.9)])
    assert alone["sampled"] == tokens["sampled"]
