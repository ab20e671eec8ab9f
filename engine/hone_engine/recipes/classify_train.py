"""Fine-tune an encoder with classification heads. The whole loop, top to bottom.

Everything here was decided by the orchestrator (see ClassifyTrainJob in src/protocol/schema.ts):
the engine reads the job and does what it says. After each evaluation it writes the
logits, waits for the orchestrator's decision (continue or stop: early stopping and the
choice of the best checkpoint are made in TypeScript, where the metrics live), then
saves a checkpoint.
"""
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import checkpoint, runtime, shards
from ..model import build, freeze, load_weights, param_groups
from ..protocol import EngineError
from .classify_predict import predict_logits, write_logits


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


def head_losses(logits: dict, labels: dict, heads: list, couplings: list) -> torch.Tensor:
    """Summed (not averaged) loss over the batch, so gradient accumulation can divide by the
    exact number of examples in the optimizer step. A target of -1 means "not this head's
    example" (a hierarchy node off the example's path)."""
    total = 0.0
    for head in heads:
        out, y = logits[head["name"]].float(), labels[head["name"]]
        if head["multi_label"]:
            loss = F.binary_cross_entropy_with_logits(out, y, reduction="none").mean(-1).sum()
        else:
            loss = F.cross_entropy(out, y, reduction="sum", ignore_index=-1, label_smoothing=head["label_smoothing"])
        total = total + head["loss_weight"] * loss
    for c in couplings:
        # The probability mass a parent level gives a node should equal what the child level
        # gives that node's children; both are summed into shared groups and compared.
        parent = logits[c["parent"]].float().softmax(-1)
        child = logits[c["child"]].float().softmax(-1)
        groups = max(c["parent_groups"] + c["child_groups"]) + 1
        pg = torch.tensor(c["parent_groups"], device=parent.device)
        cg = torch.tensor(c["child_groups"], device=child.device)
        mass_p = parent.new_zeros(parent.shape[0], groups).index_add_(1, pg, parent)
        mass_c = child.new_zeros(child.shape[0], groups).index_add_(1, cg, child)
        total = total + c["weight"] * (mass_p - mass_c).pow(2).sum()
    return total


def run(job: dict, channel) -> None:
    opt_cfg, rt = job["optim"], job["runtime"]
    run_dir = Path(job["run_dir"])
    device, autocast = runtime.setup(rt)
    torch.manual_seed(opt_cfg["seed"])

    # ---- data ----
    heads = job["heads"]
    train = shards.load(job["data"]["train"], heads)
    val = shards.load(job["data"]["validation"], heads) if job["data"]["validation"] else None
    lengths = train.lengths
    micro_per_epoch = math.ceil(train.count / opt_cfg["batch_size"])
    steps_per_epoch = math.ceil(micro_per_epoch / opt_cfg["grad_accum"])
    if steps_per_epoch != opt_cfg["steps_per_epoch"]:
        raise EngineError("bad_job", f"steps_per_epoch is {opt_cfg['steps_per_epoch']}, the shard gives {steps_per_epoch}")

    # ---- model and optimizer ----
    model = build(job["model"], heads, pretrained=True)
    if job["model"]["init_from"]:
        skipped = load_weights(model, job["model"]["init_from"], strict=False, heads=job["model"]["init_heads"])
        if skipped:
            channel.emit("log", level="info", message=f"init_from: fresh weights for {', '.join(skipped)}")
    freeze(model, job["freeze"])
    model.to(device)
    if rt["compile"]:
        # Dynamic shapes: dynamic padding gives every batch its own length.
        runtime.compile_blocks(model.encoder, dynamic=True)
    groups = param_groups(model, opt_cfg["lr"], opt_cfg["head_lr"], opt_cfg["weight_decay"])
    optimizer = torch.optim.AdamW(
        groups, betas=tuple(opt_cfg["betas"]), eps=opt_cfg["eps"], fused=device.type == "cuda"
    )
    trainable = [p for g in groups for p in g["params"]]

    start_step = 0
    if job["resume_from"]:
        start_step = checkpoint.restore(job["resume_from"], model, optimizer)
    total = opt_cfg["total_steps"]
    channel.emit(
        "started",
        parameters=sum(p.numel() for p in model.parameters()),
        trainable_parameters=sum(p.numel() for p in trainable),
        start_step=start_step,
        total_steps=total,
    )

    # Ctrl-C / SIGTERM: finish the current step, save, exit. The orchestrator closing our
    # stdin (it was killed) means the same.
    interrupted = runtime.interrupt_flag()

    def evaluate(step: int, epoch: float) -> str:
        if val is None:
            return "continue"
        logits, loss = predict_logits(model, val, heads, job["model"]["pad_token_id"], opt_cfg["eval_batch_size"], device, autocast)
        paths = write_logits(run_dir / "evals" / f"step-{step:06d}", logits)
        channel.emit("eval", step=step, epoch=epoch, loss=loss, logits=paths, count=val.count)
        decision = channel.await_control()
        return decision["type"]

    # ---- the loop ----
    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    last_report = 0.0
    window_samples = window_tokens = 0
    window_start = time.time()
    step = start_step
    reason = "completed"
    model.train()
    while step < total:
        epoch = step // steps_per_epoch
        batches = shards.epoch_batches(lengths, opt_cfg["batch_size"], opt_cfg["seed"], epoch, opt_cfg["group_by_length"])
        first = (step % steps_per_epoch) * opt_cfg["grad_accum"]
        for micro0 in range(first, len(batches), opt_cfg["grad_accum"]):
            group = batches[micro0 : micro0 + opt_cfg["grad_accum"]]
            n_examples = sum(len(b) for b in group)

            # One optimizer step over grad_accum micro-batches; the loss of each is divided by
            # the examples of the whole step, so the result equals one big batch.
            for g in optimizer.param_groups:
                g["lr"] = g["base_lr"] * lr_factor(step, opt_cfg["warmup_steps"], total, opt_cfg["scheduler"])
            # Loss and grad norm stay on the device: a .item() per step would make the CPU wait
            # for the GPU every step instead of queueing the next batch while it computes.
            step_loss = torch.zeros((), device=device)
            for idx in group:
                batch = shards.collate(train, idx, job["model"]["pad_token_id"])
                labels = {k: v.to(device, non_blocking=True) for k, v in batch["labels"].items()}
                with autocast:
                    logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
                loss = head_losses(logits, labels, heads, job["couplings"]) / n_examples
                loss.backward()
                step_loss += loss.detach()
                window_tokens += batch["tokens"]
            grad_norm = None
            if opt_cfg["max_grad_norm"] is not None:
                grad_norm = torch.nn.utils.clip_grad_norm_(trainable, opt_cfg["max_grad_norm"])
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window_samples += n_examples

            now = time.time()
            at_eval = step % job["eval_every"] == 0 or step == total
            if now - last_report >= 1.0 or at_eval or step == total:
                dt = max(now - window_start, 1e-9)
                channel.emit(
                    "progress",
                    step=step,
                    total_steps=total,
                    epoch=step / steps_per_epoch,
                    loss=step_loss.item(),
                    lr=optimizer.param_groups[0]["lr"],
                    grad_norm=None if grad_norm is None else grad_norm.item(),
                    samples_per_s=window_samples / dt,
                    tokens_per_s=window_tokens / dt,
                    elapsed_s=now - t0,
                )
                last_report, window_start, window_samples, window_tokens = now, now, 0, 0

            if at_eval:
                decision = evaluate(step, step / steps_per_epoch)
                model.train()
                path = checkpoint.save(ckpt_dir, step, model, optimizer)
                channel.emit("checkpoint", step=step, path=str(path))
                window_start = time.time()  # throughput measures training, not evaluation or saving
                if decision == "stop":
                    reason = "stopped"
                    break
            if interrupted["set"] or channel.closed.is_set():
                path = checkpoint.save(ckpt_dir, step, model, optimizer)
                channel.emit("checkpoint", step=step, path=str(path))
                reason = "interrupted"
                break
            if step >= total:
                break
        if reason != "completed":
            break

    channel.emit("done", step=step, reason=reason, runtime_s=time.time() - t0)
