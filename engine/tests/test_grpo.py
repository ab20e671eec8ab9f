"""GRPO (recipes/lm_grpo.py) on the tiny model, with the orchestrator played by the test: it reads
each `completions` event's answers and answers with rewards, as src/tasks/grpo does."""

import json
import queue

import numpy as np
import pytest
from hone_engine.recipes import lm_grpo
from test_lm import QA, sft_job, tiny_lm, write_lm_shard  # noqa: F401  (tiny_lm: the fixture)
from tokenizers import Tokenizer


def even_share(answer):
    """The reward: the share of the answer's tokens with an even id (a random model: about half)."""
    return float(np.mean([t % 2 == 0 for t in answer])) if answer else 0.0


class Orchestrator:
    """A Channel whose control lines are computed from the events: rewards for completions,
    `continue` after an evaluation."""

    def __init__(self):
        self.events, self.replies, self.closed = [], queue.Queue(), __import__("threading").Event()

    def emit(self, type_, **fields):
        event = json.loads(json.dumps({"type": type_, **fields}))
        self.events.append(event)
        if type_ == "completions":
            tokens = np.fromfile(event["tokens"], dtype="<u4")
            offsets = np.fromfile(event["offsets"], dtype="<u4")
            answers = [tokens[offsets[i] : offsets[i + 1]].tolist() for i in range(event["count"])]
            self.replies.put({"type": "rewards", "step": event["step"], "values": [even_share(a) for a in answers]})
        if type_ == "eval":
            self.replies.put({"type": "continue"})

    def await_control(self):
        return self.replies.get_nowait()


def grpo_job(tiny_lm, tmp_path, steps=12, beta=0.0, resume=None, run_dir=None):  # noqa: F811
    tok = Tokenizer.from_file(str(tiny_lm / "tokenizer.json"))
    prompts = [(tok.encode(f"<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False).ids, []) for q, _ in QA]
    base, _ = sft_job(tiny_lm, tmp_path)
    data = tmp_path / "prompts"
    return {
        "kind": "lm.grpo",
        "protocol_version": 1,
        "run_dir": str(run_dir or tmp_path / "run"),
        "model": base["model"],
        "adapter": base["adapter"],
        "data": {"train": write_lm_shard(data, "train", prompts, masks=False), "validation": write_lm_shard(data, "validation", prompts[:2], masks=False)},
        "optim": {
            **base["optim"],
            "lr": 3e-2,
            "batch_size": 2,
            "grad_accum": 1,
            "steps_per_epoch": 2,
            "total_steps": steps,
            "warmup_steps": 0,
            "scheduler": "constant",
        },
        "freeze": base["freeze"],
        "grpo": {"group_size": 4, "max_new_tokens": 6, "temperature": 1.0, "top_p": 1.0, "beta": beta, "epsilon": 0.2, "scale_rewards": True},
        "stop_token_ids": [2],
        "eval_every": 6,
        "runtime": {"device": "cpu", "precision": "fp32", "threads": 1, "compile": False, "gradient_checkpointing": False, "optimizer_offload": False},
        "resume_from": resume,
        "eval_first": False,
    }


def run(job):
    o = Orchestrator()
    lm_grpo.run(job, o)
    return o.events


def train_rewards(events):
    out = {}
    for e in events:
        if e["type"] == "completions" and e["split"] == "train":
            tokens = np.fromfile(e["tokens"], dtype="<u4")
            offsets = np.fromfile(e["offsets"], dtype="<u4")
            out[e["step"]] = [even_share(tokens[offsets[i] : offsets[i + 1]].tolist()) for i in range(e["count"])]
    return out


def test_rewards_rise_and_the_first_loss_is_the_advantage_formula(tiny_lm, tmp_path):  # noqa: F811
    events = run(grpo_job(tiny_lm, tmp_path, steps=24))
    rewards = train_rewards(events)
    first, last = np.mean([np.mean(rewards[s]) for s in range(1, 7)]), np.mean([np.mean(rewards[s]) for s in range(19, 25)])
    assert last > first + 0.15, (first, last)
    # Step 1 by hand: ratio 1 and beta 0, so loss = -sum(advantage x answer length) / answer tokens.
    step1 = next(e for e in events if e["type"] == "completions" and e["step"] == 1)
    lengths = np.diff(np.fromfile(step1["offsets"], dtype="<u4").astype(np.int64))
    r = np.array(rewards[1]).reshape(-1, 4)
    adv = ((r - r.mean(1, keepdims=True)) / (r.std(1, keepdims=True) + 1e-4)).reshape(-1)
    progress = next(e for e in events if e["type"] == "progress" and e["step"] == 1)
    assert progress["loss"] == pytest.approx(-(adv * lengths).sum() / lengths.sum(), abs=1e-5)
    evals = [e for e in events if e["type"] == "eval"]
    assert [e["step"] for e in evals] == [6, 12, 18, 24] and all(e["count"] == 2 for e in evals)


def test_kl_penalty_and_resume_continue_exactly(tiny_lm, tmp_path):  # noqa: F811
    straight = run(grpo_job(tiny_lm, tmp_path / "a", steps=12, beta=0.1))
    first = run(grpo_job(tiny_lm, tmp_path / "b", steps=12, beta=0.1))
    ckpt = [e for e in first if e["type"] == "checkpoint"][0]
    resumed = run(grpo_job(tiny_lm, tmp_path / "b", steps=12, beta=0.1, resume=ckpt["path"], run_dir=tmp_path / "b" / "run"))
    assert ckpt["step"] == 6
    assert train_rewards(resumed) == {s: v for s, v in train_rewards(straight).items() if s > 6}
    assert [e["loss"] for e in resumed if e["type"] == "eval"] == [e["loss"] for e in straight if e["type"] == "eval"][1:]
