"""Online reinforcement learning from prompts: GRPO (Shao et al. 2024), the loop top to bottom.

Each optimizer step takes batch_size x grad_accum prompts and, for each:
  1. samples group_size answers from the current model, all prompts in one batch (seeded by
     (seed, step): a resumed run samples the same answers);
  2. asks the orchestrator for their rewards: a `completions` event, answered by one `rewards`
     control line (the user's reward function runs in TypeScript, never here);
  3. advantage of each answer = (reward - mean of its group) / (std of its group + 1e-4), or only
     centred (scale_rewards false): answers are compared with their siblings, no value model;
  4. loss per answer token t = -min(ratio_t A, clip(ratio_t, 1 - epsilon, 1 + epsilon) A)
     + beta (exp(ref_t - pi_t) - (ref_t - pi_t) - 1), with ratio_t = exp(pi_t - old_t), summed over
     every answer token of the step and divided by their number (each token weighs the same, as
     TRL's default loss).
One gradient step per batch of answers: the policy that sampled them is the one being trained,
so old_t = pi_t (detached), ratio = 1 and clipping only matters for the gradient's form, as in
TRL with num_iterations = 1. The reference (beta > 0) is the starting model: the adapter switched
off, or a frozen copy under full fine-tuning.

Evaluation: one greedy answer per validation prompt, rewarded the same way; the eval event's loss is
minus their mean reward, and the orchestrator keeps the rewards themselves.
"""

import copy
import math
import time
from pathlib import Path

import numpy as np
import torch

from .. import checkpoint, lm, loop, runtime
from ..lm import epoch_rows
from ..outputs import write_array
from ..protocol import DTYPES, EngineError, step_name


def run(job: dict, channel) -> None:
    opt_cfg, rt, g = job["optim"], job["runtime"], job["grpo"]
    run_dir = Path(job["run_dir"])
    device, autocast = runtime.setup(rt)
    ranks = runtime.Ranks({**rt, "processes": 1})
    torch.manual_seed(opt_cfg["seed"])
    pad_id = job["model"]["pad_token_id"]
    stop = set(job["stop_token_ids"])
    G = g["group_size"]

    # ---- data: prompts only ----
    prompts = lm.load_shard(job["data"]["train"], pairs=False)
    val = lm.load_shard(job["data"]["validation"], pairs=False) if job["data"]["validation"] else None
    B = opt_cfg["batch_size"]
    steps_per_epoch = math.ceil(math.ceil(prompts.count / B) / opt_cfg["grad_accum"])
    if steps_per_epoch != opt_cfg["steps_per_epoch"]:
        raise EngineError("bad_job", f"steps_per_epoch is {opt_cfg['steps_per_epoch']}, the shard gives {steps_per_epoch}")

    # ---- model, reference and optimizer ----
    model = lm.load(job["model"], job["adapter"], trainable=True)
    adapter = job["adapter"]["method"] != "none"
    if not adapter:
        lm.freeze(model, job["freeze"])
    model.to(device)
    reference = None
    if g["beta"] > 0 and not adapter:
        reference = copy.deepcopy(model).eval().requires_grad_(False)
    lm.checkpoint_layers(model, rt["gradient_checkpointing"])
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = lm.adamw(params, opt_cfg, device, offload=rt["optimizer_offload"])
    start_step = 0
    if job["resume_from"]:
        start_step = checkpoint.restore(job["resume_from"], model, optimizer, load_model=lambda d: lm.load_pretrained_weights(model, d))
    channel.emit(
        "started",
        parameters=sum(p.numel() for p in model.parameters()),
        trainable_parameters=sum(p.numel() for p in params),
        start_step=start_step,
        total_steps=opt_cfg["total_steps"],
    )

    def prompt_ids(shard, row: int) -> np.ndarray:
        return shard.tokens[int(shard.offsets[row]) : int(shard.offsets[row + 1])].astype(np.int64)

    @torch.no_grad()
    def sample(shard, rows: list, n: int, seed: "int | None") -> list:
        """n answers to each prompt, all in one left-padded batch (greedy when seed is None), each
        cut after its first stop token (kept: the model learns where to stop). The seed is the
        step's, and the batch a pure function of the step: a resumed run samples the same answers."""
        was_training = model.training
        model.eval()
        lm.causal(model).config.use_cache = True
        prompts_ = [prompt_ids(shard, r) for r in rows for _ in range(n)]
        width = max(len(p) for p in prompts_)
        ids = np.full((len(prompts_), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(prompts_), width), dtype=np.int64)
        for i, p in enumerate(prompts_):
            ids[i, width - len(p) :], mask[i, width - len(p) :] = p, 1
        if seed is not None:
            torch.manual_seed(seed)
        with autocast:
            out = model.generate(
                input_ids=torch.from_numpy(ids).to(device),
                attention_mask=torch.from_numpy(mask).to(device),
                max_new_tokens=g["max_new_tokens"],
                do_sample=seed is not None,
                temperature=g["temperature"] if seed is not None else None,
                top_p=g["top_p"] if seed is not None else None,
                top_k=None,
                eos_token_id=sorted(stop),
                pad_token_id=pad_id,
            )
        answers = []
        for new in out[:, width:].tolist():
            cut = next((k for k, t in enumerate(new) if t in stop), None)
            answers.append(new[: cut + 1] if cut is not None else new)
        lm.causal(model).config.use_cache = False
        model.train(was_training)
        return answers

    def rewards_of(step: int, split: str, rows: list, answers: list, n: int) -> np.ndarray:
        """The orchestrator's rewards for the answers (n per prompt row, in order)."""
        where = run_dir / "grpo" / split / step_name(step)
        flat = np.array([t for a in answers for t in a], dtype=DTYPES["ids"])
        offsets = np.concatenate([[0], np.cumsum([len(a) for a in answers])]).astype(DTYPES["ids"])
        channel.emit(
            "completions",
            step=step,
            split=split,
            tokens=write_array(where / "answers.tokens.u32", flat),
            offsets=write_array(where / "answers.offsets.u32", offsets),
            prompts=write_array(where / "answers.prompts.u32", np.repeat(np.array(rows, dtype=DTYPES["ids"]), n)),
            count=len(answers),
            group_size=n,
        )
        reply = channel.await_control()
        if reply["type"] != "rewards" or reply["step"] != step or len(reply["values"]) != len(answers):
            raise EngineError("bad_job", f"expected {len(answers)} rewards for step {step}, got {str(reply)[:200]}")
        return np.asarray(reply["values"], dtype=np.float64)

    def answer_logps(net, shard, rows_of_answers, answers: list, with_grad: bool) -> tuple:
        """log p of every answer token given its prompt, flat, and the number of its answer: the
        answers as a shard of their own (prompt tokens not learnt), through the chunked output
        layer of lm/logp.py (the full logits are never held)."""
        seqs = [np.concatenate([prompt_ids(shard, r), np.asarray(a, dtype=np.int64)]) for r, a in zip(rows_of_answers, answers)]
        masks = [np.concatenate([np.zeros(len(s) - len(a), np.uint8), np.ones(len(a), np.uint8)]) for s, a in zip(seqs, answers)]
        offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)
        part = lm.LmShard(np.concatenate(seqs).astype(np.uint32), offsets, np.concatenate(masks), [np.array([i]) for i in range(len(seqs))])
        batch = lm.collate(part, part.rows, pad_id, pack=False)
        with autocast:
            return lm.token_logps(net, batch, device, with_grad)

    def reference_logps(rows_of_answers, answers):
        with torch.no_grad():
            if reference is not None:
                return answer_logps(reference, prompts, rows_of_answers, answers, False)[0]
            with model.disable_adapter():
                return answer_logps(model, prompts, rows_of_answers, answers, False)[0]

    step_at = {"step": start_step}

    def accumulate(everyone: list) -> tuple:
        """One step: sample, reward, advantages, then the clipped policy gradient, micro-batch by
        micro-batch (batch_size prompts x group_size answers each)."""
        step = step_at["step"]
        step_at["step"] += 1
        rows = [int(r) for m in everyone for r in m]
        t0 = time.perf_counter()
        answers = sample(prompts, rows, G, seed=opt_cfg["seed"] * 7919 + step)
        t1 = time.perf_counter()
        rewards = rewards_of(step + 1, "train", rows, answers, G).reshape(len(rows), G)
        t2 = time.perf_counter()
        centred = rewards - rewards.mean(axis=1, keepdims=True)
        advantages = (centred / (rewards.std(axis=1, keepdims=True) + 1e-4) if g["scale_rewards"] else centred).reshape(-1)
        answer_rows = np.repeat(rows, G)
        total_tokens = max(1, sum(len(a) for a in answers))
        step_loss = torch.zeros((), device=device)
        per_micro = B * G
        for at in range(0, len(answers), per_micro):
            part = slice(at, at + per_micro)
            logp, seq = answer_logps(model, prompts, answer_rows[part], answers[part], True)
            adv = lm.mover(device)(torch.from_numpy(advantages[part]).float())[seq]  # each token its answer's advantage
            ratio = torch.exp(logp - logp.detach())
            per_token = -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - g["epsilon"], 1 + g["epsilon"]) * adv)
            if g["beta"] > 0:
                gap = reference_logps(answer_rows[part], answers[part]) - logp
                per_token = per_token + g["beta"] * (torch.exp(gap) - gap - 1)
            loss = per_token.sum() / total_tokens
            loss.backward()
            step_loss += loss.detach()
        tokens = total_tokens + sum(len(prompt_ids(prompts, r)) for r in answer_rows)
        if device.type == "cuda":
            torch.cuda.synchronize()  # the step's time is its own (sampling already waits for the GPU)
        # Where a step's time goes: sampling, the reward round trip, the gradient.
        channel.emit(
            "log", level="debug", message=f"grpo step {step + 1}: sampling {t1 - t0:.3f} s, rewards {t2 - t1:.3f} s, training {time.perf_counter() - t2:.3f} s"
        )
        return step_loss, tokens, len(answers)

    def evaluate(step: int, epoch: float) -> "str | None":
        if val is None:
            return "continue"
        rows = list(range(val.count))
        answers = sample(val, rows, 1, seed=None)
        rewards = rewards_of(step, "validation", rows, answers, 1)
        channel.emit("eval", step=step, epoch=epoch, loss=-float(rewards.mean()), logits={}, count=val.count)
        return channel.await_control()["type"]

    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)

    def micro_batches(epoch: int) -> list:
        order = epoch_rows(prompts.count, opt_cfg["seed"], epoch)
        return [order[i : i + B] for i in range(0, len(order), B)]

    def save(step: int):
        return checkpoint.save(ckpt_dir, step, model, optimizer, write_model=lambda d: lm.save_pretrained(model, d, None))

    loop.train(
        job,
        channel,
        model=model,
        optimizer=optimizer,
        params=params,
        ranks=ranks,
        start_step=start_step,
        micro_batches=micro_batches,
        accumulate=accumulate,
        evaluate=evaluate,
        save=save,
    )
