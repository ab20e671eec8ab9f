"""Few-shot and zero-shot classifiers in the engine: the contrastive stage (its loss falls, it is
the job's first steps, a resume inside it continues exactly), heads started from prototypes
(nearest-prototype classification) and from label texts (zero-shot)."""

import numpy as np
import torch
import torch.nn.functional as F
from conftest import Recorder, example_rows, write_shard
from hone_engine.classify import data as shards
from hone_engine.classify.head_init import embeddings, init_heads
from hone_engine.classify.model import build
from hone_engine.recipes import classify_train
from test_engine import _job


def _pairs(tmp_path, labels, per_example, seed=0):
    """Half similar, half dissimilar pairs per example (the orchestrator's rule, simplified)."""
    rng = np.random.default_rng(seed)
    labels = np.array(labels)
    rows = []
    for i in range(len(labels)):
        for r in range(per_example):
            same = r % 2 == 0
            pool = np.flatnonzero((labels == labels[i]) == same)
            rows.append((i, int(rng.choice(pool)), 1.0 if same else 0.0))
    rng.shuffle(rows)
    pairs = np.array([[a, b] for a, b, _ in rows], dtype="<i4")
    similar = np.array([y for _, _, y in rows], dtype="<f4")
    (tmp_path / "pairs.i32").write_bytes(pairs.tobytes())
    (tmp_path / "similar.f32").write_bytes(similar.tobytes())
    return {"pairs": str(tmp_path / "pairs.i32"), "similar": str(tmp_path / "similar.f32"), "count": len(rows)}


def _fewshot_job(tmp_path, tiny_model, rows, head_steps, resume_from=None):
    job = _job(tmp_path, tiny_model, rows, total_steps=head_steps, resume_from=resume_from)
    labels = sorted({r["label"] for r in rows})
    pairs = _pairs(tmp_path, [labels.index(r["label"]) for r in rows], per_example=4)
    steps = -(-pairs["count"] // 16)
    job["contrastive"] = pairs | {"batch_size": 16, "steps": steps, "lr": 3e-3, "warmup_steps": 2}
    job["head_init"] = {"from": "prototypes", "texts": None, "scale": 20.0}
    job["optim"]["total_steps"] = steps + head_steps
    return job, steps


def test_the_contrastive_stage_comes_first_its_loss_falls_and_the_heads_start_from_prototypes(tmp_path, tiny_model):
    rows = example_rows(64)
    job, pre = _fewshot_job(tmp_path, tiny_model, rows, head_steps=4)
    rec = Recorder(job)
    classify_train.run(rec.channel.read_job(), rec.channel)
    events = rec.events()
    stage = [e for e in events if e["type"] == "progress" and e.get("stage") == "contrastive"]
    assert stage and all(e["step"] <= pre for e in stage)
    assert any(e["type"] == "log" and "mean embedding" in e["message"] for e in events)
    # Its evaluations are checkpoints only: the heads' stage is the first to be judged.
    evals = [e["step"] for e in events if e["type"] == "eval"]
    assert evals == [pre + 4]
    checkpoints = [e["step"] for e in events if e["type"] == "checkpoint"]
    assert pre in checkpoints and checkpoints[-1] == pre + 4
    assert events[-1]["type"] == "done" and events[-1]["step"] == pre + 4

    # The loss falls: the stage's pairs scored by the pretrained encoder and by the trained one.
    train = shards.load(job["data"]["train"], job["heads"])
    pairs = np.fromfile(job["contrastive"]["pairs"], dtype="<i4").reshape(-1, 2)
    target = torch.from_numpy(np.fromfile(job["contrastive"]["similar"], dtype="<f4"))

    def pair_loss(model):
        e = embeddings(model, train, 0, 64, torch.device("cpu"), torch.autocast("cpu", enabled=False))
        return F.mse_loss(F.cosine_similarity(e[pairs[:, 0]], e[pairs[:, 1]]), target).item()

    before = build(job["model"], job["heads"], pretrained=True)
    after = build(job["model"], job["heads"], pretrained=True)
    from safetensors.torch import load_file

    after.load_state_dict(load_file(tmp_path / "run" / "checkpoints" / f"step-{pre:06d}" / "model.safetensors"))
    assert pair_loss(after) < 0.7 * pair_loss(before), (pair_loss(before), pair_loss(after))


def test_a_resume_inside_the_contrastive_stage_gives_the_uninterrupted_run_exactly(tmp_path, tiny_model):
    rows = example_rows(64)
    job, pre = _fewshot_job(tmp_path / "a", tiny_model, rows, head_steps=4)
    job["eval_every"] = 4
    full = Recorder(job)
    classify_train.run(full.channel.read_job(), full.channel)
    # Interrupted at the stage's step 4 checkpoint (a Ctrl-C: the step ends, a checkpoint, exit).
    job_b, _ = _fewshot_job(tmp_path / "b", tiny_model, rows, head_steps=4)
    job_b["eval_every"] = 4
    ckpt_dir = tmp_path / "b" / "run" / "checkpoints"
    first = Recorder(job_b, controls=[])
    first.channel.closed.set()  # the orchestrator went away: the first step ends, is saved, the engine stops
    classify_train.run(first.channel.read_job(), first.channel)
    done = [e for e in first.events() if e["type"] == "done"][0]
    assert done["reason"] == "interrupted" and done["step"] < pre
    resume = sorted(ckpt_dir.iterdir())[-1]
    job_c, _ = _fewshot_job(tmp_path / "b", tiny_model, rows, head_steps=4, resume_from=str(resume))
    job_c["eval_every"] = 4
    second = Recorder(job_c)
    classify_train.run(second.channel.read_job(), second.channel)
    final = lambda r: [e for e in r.events() if e["type"] == "eval"][-1]  # noqa: E731
    assert final(second)["step"] == final(full)["step"] == pre + 4
    a = np.fromfile(final(full)["logits"]["label"], dtype="<f4")
    b = np.fromfile(final(second)["logits"]["label"], dtype="<f4")
    assert np.array_equal(a, b)


def test_prototype_heads_classify_by_the_nearest_label_mean(tmp_path, tiny_model):
    rows = example_rows(48)
    job = _job(tmp_path, tiny_model, rows, total_steps=1)
    train = shards.load(job["data"]["train"], job["heads"])
    model = build(job["model"], job["heads"], pretrained=True).eval()
    cpu, off = torch.device("cpu"), torch.autocast("cpu", enabled=False)
    init_heads(model, {"from": "prototypes", "texts": None, "scale": 20.0}, train, job["heads"], 0, 16, cpu, off)
    x = embeddings(model, train, 0, 16, cpu, off)
    y = torch.from_numpy(train.labels["label"])
    protos = torch.stack([F.normalize(F.normalize(x[y == c], dim=1).mean(0), dim=0) for c in range(job["heads"][0]["num_labels"])])
    nearest = (F.normalize(x, dim=1) @ protos.T).argmax(1)
    logits = model.heads["label"](x)
    assert torch.equal(logits.argmax(1), nearest)
    # About scale x cosine: the logit spread matches the cosine spread, scaled.
    cos = F.normalize(x, dim=1) @ protos.T
    assert torch.allclose(logits, 20.0 * cos * x.norm(dim=1, keepdim=True) / x.norm(dim=1).mean(), atol=1e-4)


def test_zero_shot_heads_pick_the_label_whose_text_matches(tmp_path, tiny_model):
    rows = example_rows(48)
    job = _job(tmp_path, tiny_model, rows, total_steps=1)
    names = ["refund for my order", "where is my parcel", "my card was declined"]
    texts = write_shard(tmp_path / "labels", "texts", names, [0, 1, 2], tiny_model)
    heads = [job["heads"][0] | {"num_labels": 3}]
    train = shards.load(job["data"]["train"], [])
    model = build(job["model"], heads, pretrained=True).eval()
    cpu, off = torch.device("cpu"), torch.autocast("cpu", enabled=False)
    init_heads(model, {"from": "labels", "texts": {"label": texts}, "scale": 20.0}, train, heads, 0, 16, cpu, off)
    queries = shards.load(write_shard(tmp_path / "q", "q", list(reversed(names)), [0, 0, 0], tiny_model), [])
    logits = model.heads["label"](embeddings(model, queries, 0, 16, cpu, off))
    assert logits.argmax(1).tolist() == [2, 1, 0]


def test_multi_label_prototype_heads_put_each_boundary_between_its_examples_and_the_others(monkeypatch):
    """A sigmoid head's start: each label says yes to its own examples and no to the others', on
    average, however few its examples are (centring on all examples said yes to most texts)."""
    from types import SimpleNamespace

    from hone_engine.classify import head_init

    g = torch.Generator().manual_seed(0)
    centres = F.normalize(torch.randn(5, 16, generator=g), dim=1) * 3
    yes = torch.zeros(40, 5)
    for i in range(40):  # label 0 on 4 of 40 examples, the rest spread; some examples have two
        yes[i, 0 if i < 4 else 1 + i % 4] = 1
        if i % 7 == 0:
            yes[i, 4] = 1
    x = yes @ centres + 0.3 * torch.randn(40, 16, generator=g)
    monkeypatch.setattr(head_init, "embeddings", lambda *a: x)
    model = SimpleNamespace(heads=torch.nn.ModuleDict({"label": torch.nn.Linear(16, 5)}))
    train = SimpleNamespace(count=40, labels={"label": yes.numpy()})
    heads = [{"name": "label", "level": "sequence", "multi_label": True, "num_labels": 5}]
    head_init.init_heads(model, {"from": "prototypes", "texts": None, "scale": 20.0}, train, heads, 0, 16, None, None)
    p = torch.sigmoid(model.heads["label"](x))
    own = (p * yes).sum(0) / yes.sum(0)
    others = (p * (1 - yes)).sum(0) / (1 - yes).sum(0)
    assert (own > 0.5).all() and (others < 0.5).all(), (own, others)
    assert ((p > 0.5) == yes.bool()).float().mean() > 0.9
