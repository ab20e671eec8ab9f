"""The one training loop of every recipe, top to bottom.

A recipe (recipes/classify_train.py, recipes/lm_train.py) builds its model, optimizer and data,
then hands the loop four functions:

  micro_batches(epoch)  the epoch's micro-batches in order (a pure function of seed and epoch, so a
                        resumed run replays them); grad_accum of them make one optimizer step
  accumulate(group)     forward and backward over one step's micro-batches; the step's loss (a
                        tensor on the device), its tokens and its samples
  evaluate(step)        scores the validation split, writes its outputs, emits `eval` and returns
                        the orchestrator's decision (rank 0; None on other ranks)
  save(step)            writes the checkpoint (every rank calls it; rank 0 gets the path)

The loop owns the rest, the same for every task: the learning-rate schedule, gradient sums over
processes, clipping, the optimizer step, progress events, the evaluation cadence and the
checkpoint after each evaluation, early stop, Ctrl-C (finish the step, save, exit) and the
re-evaluation of a resumed checkpoint whose judgement was interrupted (job["eval_first"]).

A job may train in stages (a few-shot classifier's contrastive stage, then its heads): the recipe
calls the loop once per stage with the stage's `optim` (its total_steps is the global step where
the stage ends) and `first_step` (where it begins). Steps are numbered across the whole job;
schedule, epochs and evaluation cadence count from the stage's first step. `last=False`: the
stage's normal end is not the job's (no `done` event; the recipe goes on); `stage` names it in
progress events.
"""

import math
import time
from collections.abc import Callable

import torch

from . import fsdp, runtime


def lr_factor(step: int, warmup: int, total: int, scheduler: str) -> float:
    """Multiplier of the base learning rate for optimizer step `step` (0-based). Stateless,
    so that a resumed run needs no scheduler state."""
    if step < warmup:
        return (step + 1) / warmup
    if scheduler == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    if scheduler == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return max(0.0, 1.0 - progress)  # linear


def train(
    job: dict,
    channel,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    params: list,
    ranks: runtime.Ranks,
    start_step: int,
    micro_batches: Callable[[int], list],
    accumulate: Callable[[list], tuple],
    evaluate: Callable[[int, float], "str | None"],
    save: Callable[[int], object],
    optim: "dict | None" = None,
    first_step: int = 0,
    last: bool = True,
    stage: "str | None" = None,
) -> str:
    opt = optim or job["optim"]
    # max(1, .): an empty train shard (zero-shot without training data) has no epoch and no step.
    total, per_epoch, accum = opt["total_steps"], max(1, opt["steps_per_epoch"]), opt["grad_accum"]
    job_total = job["optim"]["total_steps"]  # what progress shows: the whole job
    interrupted = runtime.interrupt_flag()  # Ctrl-C / SIGTERM; the orchestrator closing our stdin means the same

    def checkpoint(step: int) -> None:
        path = save(step)
        if ranks.main:
            channel.emit("checkpoint", step=step, path=str(path))

    t0 = time.time()
    last_report = 0.0
    window_samples = window_tokens = 0
    window_start = time.time()
    step = start_step
    reason = "completed"
    if ranks.agree("interrupt" if interrupted["set"] else "go") == "interrupt":
        # Ctrl-C while the engine started: nothing trained since the last checkpoint, nothing to save.
        reason, total = "interrupted", step
    elif job["eval_first"] and ranks.agree(evaluate(step, (step - first_step) / per_epoch)) == "stop":
        # The orchestrator died while it judged this checkpoint's evaluation: judged again now.
        reason, total = "stopped", step
    model.train()
    while step < total:
        local = step - first_step
        micro = micro_batches(local // per_epoch)
        first = (local % per_epoch) * accum
        for micro0 in range(first, len(micro), accum):
            for g in optimizer.param_groups:
                g["lr"] = g["base_lr"] * lr_factor(step - first_step, opt["warmup_steps"], total - first_step, opt["scheduler"])
            # The loss stays on the device: a .item() per step would make the CPU wait for the GPU
            # every step instead of queueing the next batch while it computes.
            step_loss, tokens, samples = accumulate(micro[micro0 : micro0 + accum])
            window_tokens += tokens
            window_samples += samples
            ranks.sum_gradients(params)  # every process now holds the whole step's gradient
            grad_norm = None
            if opt["max_grad_norm"] is not None:
                # Under FSDP a DTensor: made whole here, on every rank, since that may be a collective.
                grad_norm = fsdp.value(torch.nn.utils.clip_grad_norm_(params, opt["max_grad_norm"]))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1

            now = time.time()
            at_eval = (step - first_step) % job["eval_every"] == 0 or step == total
            if now - last_report >= 1.0 or at_eval:
                dt = max(now - window_start, 1e-9)
                channel.emit(
                    "progress",
                    step=step,
                    total_steps=job_total,
                    epoch=(step - first_step) / per_epoch,
                    loss=step_loss.item(),
                    lr=optimizer.param_groups[0]["lr"],
                    grad_norm=None if grad_norm is None else grad_norm.item(),
                    samples_per_s=window_samples / dt,
                    tokens_per_s=window_tokens / dt,
                    elapsed_s=now - t0,
                    memory=runtime.peak_memory(params[0].device),
                    **({"stage": stage} if stage else {}),
                )
                last_report, window_start, window_samples, window_tokens = now, now, 0, 0

            if at_eval:
                # Rank 0 evaluates, hears the orchestrator and writes the checkpoint; the others learn its decision.
                decision = evaluate(step, (step - first_step) / per_epoch)
                model.train()
                checkpoint(step)
                window_start = time.time()  # throughput measures training, not evaluation or saving
                if ranks.agree(decision) == "stop":
                    reason = "stopped"
                    break
            if ranks.agree("interrupt" if interrupted["set"] or channel.closed.is_set() else "go") == "interrupt":
                checkpoint(step)
                reason = "interrupted"
                break
            if step >= total:
                break
        if reason != "completed":
            break

    if reason == "completed" and not last:
        return reason
    ranks.close()
    channel.emit("done", step=step, reason=reason, runtime_s=time.time() - t0)
    return reason
