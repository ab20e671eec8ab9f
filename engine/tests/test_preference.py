"""The preference losses (lm/preference.py) against a hand computation on the tiny model's own
log-probabilities, and each loss trained a few steps by lm_train: its evaluation loss is the same
formula on the statistics it writes, and the chosen answers pull ahead."""

import math

import numpy as np
import pytest
import torch
from hone_engine import lm
from test_lm import QA, encode, sft_job, tiny_lm, train, write_lm_shard  # noqa: F401  (tiny_lm: the fixture)
from tokenizers import Tokenizer

SPEC = {"adapter": None, "architecture": "causal", "head": "lm", "dtype": "fp32", "pad_token_id": 0}


def settings(loss, beta, **kw):
    return {"loss": loss, "beta": beta, "gamma_beta_ratio": 0.5, "desirable_weight": 1.0, "undesirable_weight": 1.0, **kw}


def pairs(tok):
    """Each question with its own answer (chosen) and the next question's answer (rejected)."""
    return [s for i, (q, a) in enumerate(QA) for s in (encode(tok, q, a), encode(tok, q, QA[(i + 1) % len(QA)][1]))]


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def log_sigmoid(x):
    return -math.log1p(math.exp(-x))


def by_hand(cfg, pi, n, ref, labels):
    """The papers' formulas, one number at a time, in float64."""
    b, out = cfg["beta"], []
    for i in range(len(pi) // 2):
        c, r = 2 * i, 2 * i + 1
        if cfg["loss"] == "dpo":
            out.append(-log_sigmoid(b * ((pi[c] - ref[c]) - (pi[r] - ref[r]))))
        elif cfg["loss"] == "simpo":
            out.append(-log_sigmoid(b * (pi[c] / n[c] - pi[r] / n[r]) - cfg["gamma_beta_ratio"] * b))
        elif cfg["loss"] == "orpo":
            mc, mr = pi[c] / n[c], pi[r] / n[r]
            odds = lambda m: m - math.log(1 - math.exp(m))  # noqa: E731
            out.append(-mc - b * log_sigmoid(odds(mc) - odds(mr)))
    if cfg["loss"] == "kto":
        z = max(0.0, sum(pi[2 * i + 1] - ref[2 * i + 1] for i in range(len(pi) // 2)) / (len(pi) // 2))
        for i, good in enumerate(labels):
            ratio = pi[2 * i] - ref[2 * i]
            w = cfg["desirable_weight"] if good else cfg["undesirable_weight"]
            out.append(w * (1 - sigmoid(b * (ratio - z) if good else b * (z - ratio))))
    return out


@pytest.mark.parametrize(
    "cfg",
    [settings("dpo", 0.1), settings("orpo", 0.25), settings("simpo", 2.0), settings("kto", 0.1, desirable_weight=1.33)],
    ids=lambda c: c["loss"],
)
def test_losses_equal_a_hand_computation(tiny_lm, tmp_path, cfg):  # noqa: F811
    tok = Tokenizer.from_file(str(tiny_lm / "tokenizer.json"))
    shard = lm.load_shard(write_lm_shard(tmp_path, "p", pairs(tok)), pairs=True)
    model = lm.load({"path": str(tiny_lm), **SPEC}, None, trainable=False).eval()
    with torch.no_grad():
        pi, n = lm.sequence_logps(model, lm.collate(shard, shard.rows, 0, pack=False), "cpu", with_grad=False)
    # A reference that differs from the policy, so that no term is trivially zero.
    ref = pi + torch.linspace(-3.0, 2.0, len(pi))
    labels = torch.tensor([1, 0, 1, 1], dtype=torch.uint8)
    got = lm.preference_losses(cfg, pi, n, ref, labels)
    want = by_hand(cfg, pi.double().tolist(), n.double().tolist(), ref.double().tolist(), labels.tolist())
    assert got.dtype == torch.float32 and len(got) == len(want) == 4
    assert got.tolist() == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert all(v > 0 for v in want)


@pytest.mark.parametrize("loss", ["dpo", "orpo", "simpo", "kto"])
def test_each_loss_trains_and_reports_the_same_formula(tiny_lm, tmp_path, loss):  # noqa: F811
    tok = Tokenizer.from_file(str(tiny_lm / "tokenizer.json"))
    seqs = pairs(tok)
    job, _ = sft_job(tiny_lm, tmp_path, steps=12, eval_every=12)
    data = tmp_path / "pref"  # sft_job writes its own shards to data/
    train_ref = write_lm_shard(data, "train", seqs)
    val_ref = write_lm_shard(data, "validation", seqs)
    labels = None
    if loss == "kto":  # pairs read as (answer, mismatched answer) with alternating labels
        labels = np.array([1, 0, 1, 0], dtype=np.uint8)
        for ref in (train_ref, val_ref):
            path = ref["tokens"].replace(".tokens.u32", ".labels.u8")
            labels.tofile(path)
            ref["labels"] = path
    beta = {"dpo": 0.5, "orpo": 0.5, "simpo": 2.0, "kto": 0.5}[loss]
    job = {
        **job,
        "objective": "dpo",
        "data": {"train": train_ref, "validation": val_ref},
        "dpo": settings(loss, beta),
        "optim": {**job["optim"], "lr": 5e-3, "batch_size": 4, "steps_per_epoch": 1, "total_steps": 12},
        "eval_first": False,
    }
    events = train(job)
    ev = [e for e in events if e["type"] == "eval"][-1]
    read = lambda c: np.fromfile(ev["logits"][c], dtype="<f4").astype(np.float64)  # noqa: E731
    pi, ref, n = read("policy_logp"), read("reference_logp"), read("tokens")
    if loss in ("orpo", "simpo"):
        assert not ref.any()  # reference-free: no reference model was run
    want = np.mean(by_hand(job["dpo"], pi, n, ref, labels.tolist() if labels is not None else None))
    assert ev["loss"] == pytest.approx(want, rel=1e-5, abs=1e-6)
    # The chosen answers (or the desirable ones) now gain more than the others.
    score = pi - ref if loss in ("dpo", "kto") else pi / n
    assert all(score[0::4] > score[2::4] if loss == "kto" else score[0::2] > score[1::2]), score
