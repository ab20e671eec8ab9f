import io
import json
import math
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
from conftest import Recorder, example_rows, write_shard
from hone_engine import runtime
from hone_engine.classify import data as shards
from hone_engine.loop import lr_factor
from hone_engine.protocol import SCHEMA, Channel, EngineError
from hone_engine.recipes import classify_train


def test_epoch_batches_are_a_pure_function_of_seed_and_epoch():
    lengths = np.random.default_rng(0).integers(3, 40, size=1003)
    a = shards.epoch_batches(lengths, 32, seed=7, epoch=2, group_by_length=True)
    b = shards.epoch_batches(lengths, 32, seed=7, epoch=2, group_by_length=True)
    assert [x.tolist() for x in a] == [x.tolist() for x in b]
    assert len(a) == math.ceil(1003 / 32)
    assert sorted(np.concatenate(a).tolist()) == list(range(1003))  # every example exactly once
    c = shards.epoch_batches(lengths, 32, seed=7, epoch=3, group_by_length=True)
    assert [x.tolist() for x in a] != [x.tolist() for x in c]


def test_length_grouping_reduces_padding():
    lengths = np.random.default_rng(1).integers(3, 60, size=4000)
    pad = lambda bs: sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in bs)  # noqa: E731
    grouped = pad(shards.epoch_batches(lengths, 32, 0, 0, True))
    plain = pad(shards.epoch_batches(lengths, 32, 0, 0, False))
    assert grouped < plain / 5


def test_lr_schedules():
    assert lr_factor(0, 10, 100, "linear") == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, "linear") == pytest.approx(1.0)
    assert lr_factor(55, 10, 100, "linear") == pytest.approx(0.5)
    assert lr_factor(55, 10, 100, "cosine") == pytest.approx(0.5)
    assert lr_factor(99, 0, 100, "constant") == 1.0
    assert lr_factor(100, 0, 100, "linear") == 0.0


def test_events_are_nan_safe_json_and_match_the_schema():
    out = io.StringIO()
    ch = Channel(stdin=io.StringIO(""), stdout=out)
    ch.emit(
        "progress",
        step=1,
        total_steps=2,
        epoch=0.5,
        loss=float("nan"),
        lr=0.1,
        grad_norm=float("inf"),
        samples_per_s=1.0,
        tokens_per_s=2.0,
        elapsed_s=0.1,
        memory=runtime.peak_memory(torch.device("cpu")),
    )
    event = json.loads(out.getvalue())  # strict JSON: NaN would not parse in JavaScript
    assert event["loss"] is None and event["grad_norm"] is None
    assert event["memory"]["rss_bytes"] > 50e6 and event["memory"]["allocated_bytes"] is None  # this process: torch is loaded
    jsonschema.validate(event, SCHEMA["$defs"]["Event"])


def test_a_job_that_breaks_the_protocol_is_refused_with_its_place():
    ch = Channel(stdin=io.StringIO(json.dumps({"kind": "probe", "protocol_version": 99}) + "\n"), stdout=io.StringIO())
    with pytest.raises(EngineError) as e:
        ch.read_job()
    assert e.value.code == "bad_job" and "protocol_version" in e.value.message


def _job(tmp_path, tiny_model, rows, total_steps, resume_from=None):
    labels = sorted({r["label"] for r in rows})
    y = [labels.index(r["label"]) for r in rows]
    train = write_shard(tmp_path / "data", "train", [r["text"] for r in rows], y, tiny_model)
    val = write_shard(tmp_path / "data", "validation", [r["text"] for r in rows[:40]], y[:40], tiny_model)
    return {
        "kind": "classify.train",
        "protocol_version": 1,
        "run_dir": str(tmp_path / "run"),
        "model": {
            "path": str(tiny_model),
            "pooling": "mean",
            "dropout": 0.1,
            "encoder_dropout": None,
            "init_from": None,
            "init_heads": False,
            "pad_token_id": 0,
        },
        "heads": [{"name": "label", "num_labels": len(labels), "multi_label": False, "level": "sequence", "label_smoothing": 0.0, "loss_weight": 1.0}],
        "couplings": [],
        "data": {"train": train, "validation": val},
        "optim": {
            "seed": 3,
            "lr": 3e-3,
            "head_lr": 3e-3,
            "weight_decay": 0.01,
            "betas": [0.9, 0.999],
            "eps": 1e-8,
            "max_grad_norm": 1.0,
            "scheduler": "linear",
            "warmup_steps": 2,
            "batch_size": 16,
            "grad_accum": 2,
            "steps_per_epoch": math.ceil(math.ceil(len(rows) / 16) / 2),
            "total_steps": total_steps,
            "group_by_length": True,
            "eval_batch_size": 64,
        },
        "freeze": {"embeddings": False, "layers": 0, "patterns": []},
        "eval_every": 4,
        "runtime": {"device": "cpu", "precision": "fp32", "threads": 1, "compile": False},
        "resume_from": resume_from,
        "eval_first": False,
        "contrastive": None,
        "head_init": None,
    }


def test_tiny_model_training_matches_recorded_losses(tmp_path, tiny_model):
    """torchtune-style: a fixed seed gives these exact losses on this tiny model (CPU, fp32)."""
    rec = Recorder(_job(tmp_path, tiny_model, example_rows(96), total_steps=8))
    classify_train.run(rec.channel.read_job(), rec.channel)
    events = rec.events()
    for e in events:
        jsonschema.validate(e, SCHEMA["$defs"]["Event"])
    evals = [e for e in events if e["type"] == "eval"]
    assert [e["step"] for e in evals] == [4, 8]
    assert events[-1] == {**events[-1], "type": "done", "reason": "completed", "step": 8}
    losses = [round(e["loss"], 4) for e in evals]
    assert losses == pytest.approx(EXPECTED_EVAL_LOSSES, abs=2e-4), losses


def test_head_losses_skip_missing_targets_and_add_the_coupling_penalty():
    import torch
    from hone_engine.classify.losses import head_losses

    heads = [{"name": n, "num_labels": 2, "multi_label": False, "level": "sequence", "label_smoothing": 0.0, "loss_weight": 1.0} for n in ("up", "down")]
    logits = {"up": torch.zeros(2, 2), "down": torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])}
    labels = {"up": torch.tensor([0, 1]), "down": torch.tensor([1, -1])}  # example 2 has no "down" target
    plain = head_losses(logits, labels, heads, [])
    assert plain.item() == pytest.approx(3 * math.log(2))  # two "up" terms + one "down" term, all log 2
    # Groups: up class 0 <-> down classes 0 and 1 (all of it), up class 1 <-> nothing below.
    # Per example: (0.5 - 1)^2 + (0.5 - 0)^2 = 0.5, for both examples.
    coupled = head_losses(logits, labels, heads, [{"parent": "up", "child": "down", "parent_groups": [0, 1], "child_groups": [0, 0], "weight": 2.0}])
    assert coupled.item() == pytest.approx(3 * math.log(2) + 2.0 * 2 * 0.5)


def test_class_weights_weigh_each_target_of_a_sequence_head():
    import torch
    from hone_engine.classify.losses import head_losses

    base = {"level": "sequence", "label_smoothing": 0.0, "loss_weight": 1.0}
    # Single-label: all logits 0, so each term is log 2 times its class's weight; -1 adds nothing.
    single = [{**base, "name": "y", "num_labels": 2, "multi_label": False, "class_weights": [0.5, 3.0]}]
    loss = head_losses({"y": torch.zeros(3, 2)}, {"y": torch.tensor([0, 1, -1])}, single, [], examples=3)
    assert loss.item() == pytest.approx((0.5 + 3.0) * math.log(2) / 3)
    # Multi-label: positives and negatives of each label weighed apart (mean over labels per example).
    w = {"positive": [4.0, 1.0], "negative": [0.25, 2.0]}
    multi = [{**base, "name": "y", "num_labels": 2, "multi_label": True, "label_weights": w}]
    loss = head_losses({"y": torch.zeros(2, 2)}, {"y": torch.tensor([[1.0, 0.0], [0.0, 1.0]])}, multi, [], examples=2)
    assert loss.item() == pytest.approx(((4.0 + 2.0) / 2 + (0.25 + 1.0) / 2) * math.log(2) / 2)
    # Null weights (and runs made before them: no key) are the unweighted loss.
    plain = head_losses({"y": torch.zeros(2, 2)}, {"y": torch.tensor([[1.0, 0.0], [0.0, 1.0]])}, [{**multi[0], "label_weights": None}], [], examples=2)
    assert plain.item() == pytest.approx(math.log(2))


def test_token_heads_average_over_the_steps_tagged_tokens():
    import torch
    from hone_engine.classify.losses import head_losses

    heads = [
        {"name": "intent", "num_labels": 2, "multi_label": False, "level": "sequence", "label_smoothing": 0.0, "loss_weight": 1.0},
        {"name": "tags", "num_labels": 3, "multi_label": False, "level": "token", "label_smoothing": 0.0, "loss_weight": 1.0},
    ]
    logits = {"intent": torch.zeros(2, 2), "tags": torch.zeros(2, 4, 3)}
    # 5 tagged tokens over two sentences; -1 on [CLS]/[SEP], later word pieces and padding.
    labels = {"intent": torch.tensor([0, 1]), "tags": torch.tensor([[-1, 0, 2, -1], [-1, 1, 1, 0]])}
    loss = head_losses(logits, labels, heads, [], examples=2, tokens=5)
    assert loss.item() == pytest.approx(2 * math.log(2) / 2 + 5 * math.log(3) / 5)
    # The same step cut in two micro-batches sums to the same loss.
    halves = [head_losses({k: v[i : i + 1] for k, v in logits.items()}, {k: v[i : i + 1] for k, v in labels.items()}, heads, [], 2, 5) for i in (0, 1)]
    assert (halves[0] + halves[1]).item() == pytest.approx(loss.item())


def test_span_heads_take_the_mean_of_start_and_end_cross_entropy():
    import torch
    from hone_engine.classify.losses import head_losses

    heads = [{"name": "answer", "num_labels": 2, "multi_label": False, "level": "span", "label_smoothing": 0.0, "loss_weight": 1.0}]
    logits = {"answer": torch.zeros(2, 5, 2)}  # uniform over 5 positions for start and end
    labels = {"answer": torch.tensor([[1, 3], [0, 0]])}  # window 2: the answer is elsewhere ([CLS])
    loss = head_losses(logits, labels, heads, [], examples=2)
    assert loss.item() == pytest.approx(math.log(5))
    # A confident right start and end cost (almost) nothing.
    sharp = torch.full((1, 5, 2), -20.0)
    sharp[0, 1, 0] = sharp[0, 3, 1] = 20.0
    assert head_losses({"answer": sharp}, {"answer": torch.tensor([[1, 3]])}, heads, []).item() < 1e-6


EXPECTED_EVAL_LOSSES = [2.1348, 2.0316]  # recorded with torch 2.13 CPU (tiny vocabulary with every id < vocab_size); validation loss falls


def test_resume_reproduces_the_uninterrupted_run_exactly(tmp_path, tiny_model):
    rows = example_rows(96)
    full = Recorder(_job(tmp_path / "a", tiny_model, rows, total_steps=8))
    classify_train.run(full.channel.read_job(), full.channel)
    # Stop after step 4 (as if killed after that checkpoint), then resume to step 8.
    first = Recorder(_job(tmp_path / "b", tiny_model, rows, total_steps=8), controls=[{"type": "stop", "reason": "test"}])
    classify_train.run(first.channel.read_job(), first.channel)
    ckpt = str(tmp_path / "b" / "run" / "checkpoints" / "step-000004")
    second = Recorder(_job(tmp_path / "b", tiny_model, rows, total_steps=8, resume_from=ckpt))
    classify_train.run(second.channel.read_job(), second.channel)
    final = lambda r: [e for e in r.events() if e["type"] == "eval"][-1]  # noqa: E731
    assert final(second)["step"] == 8
    assert final(second)["loss"] == final(full)["loss"]  # bit-identical on the CPU
    a = np.fromfile(final(full)["logits"]["label"], dtype="<f4")
    b = np.fromfile(final(second)["logits"]["label"], dtype="<f4")
    assert np.array_equal(a, b)


def test_compile_blocks_compiles_each_repeated_layer(monkeypatch):
    """train.compile compiles the largest stack of repeated layers, block by block (one shared
    graph), for encoders and decoders alike; nothing else is compiled."""
    from hone_engine import runtime
    from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: compiled.append((self, kw)))
    bert = BertModel(BertConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64))
    runtime.compile_blocks(bert, dynamic=True)
    assert [m for m, _ in compiled] == list(bert.encoder.layer) and all(kw == {"dynamic": True} for _, kw in compiled)
    compiled.clear()
    llama = LlamaForCausalLM(LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, vocab_size=100))
    runtime.compile_blocks(llama.model)
    assert [m for m, _ in compiled] == list(llama.model.layers)


def test_recipes_are_leaves_that_share_one_training_loop():
    """No recipe imports another recipe; both training recipes run loop.train."""
    import ast
    from pathlib import Path

    recipes = Path(__file__).resolve().parents[1] / "hone_engine" / "recipes"
    for f in recipes.glob("*.py"):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.level == 1 and node.module), f"{f.name} imports recipe {node.module}"
                assert "recipes" not in (node.module or ""), f"{f.name} imports {node.module}"
    for name in ("classify_train.py", "lm_train.py"):
        assert "loop.train(" in (recipes / name).read_text()


def test_the_gpu_benches_job_matches_the_protocol(tmp_path):
    # bench/gpu/lm_job.py writes the LmTrainJob the device benchmarks hand the engine; a field added
    # to the protocol must reach it too, or a device run fails after its minutes of set-up.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "gpu"))
    from lm_job import shard_ref, train_job

    for method, dtype in (("lora", "bf16"), ("none", "fp32")):
        job = train_job(tmp_path / method, tmp_path / "model", shard_ref(tmp_path, 8), 8, 4, method, True, dtype, False)
        jsonschema.validate(job, SCHEMA["$defs"]["Job"])
