"""Fine-tune an encoder with classification heads: the data, the model and the optimizer, then
the one training loop (loop.py) with this family's batches, loss and evaluation.

Everything here was decided by the orchestrator (see ClassifyTrainJob in src/protocol/schema.ts):
the engine reads the job and does what it says. After each evaluation it writes the logits,
waits for the orchestrator's decision (continue or stop: early stopping and the choice of the
best checkpoint are made in TypeScript, where the metrics live), then saves a checkpoint.

Few-shot runs train in two stages of one loop (SetFit's recipe, then fine-tuning): first the
encoder alone on pairs of examples, pulling the embeddings of a pair together (same label) or
apart (classify/contrastive.py); then the heads, which start from each label's mean embedding
(classify/head_init.py), learn with the encoder as in any run. Zero-shot runs train nothing: the
heads are the labels' embeddings, evaluated once.
"""

import math
from pathlib import Path

import torch

from .. import checkpoint, loop, runtime
from ..classify import contrastive as pairs_stage
from ..classify import data as shards
from ..classify.head_init import init_heads
from ..classify.losses import head_losses
from ..classify.model import build, freeze, load_weights, param_groups
from ..classify.predict import predict_logits
from ..outputs import write_logits
from ..protocol import EngineError, step_name

HEAD_START = {"prototypes": "heads start from each label's mean embedding", "labels": "heads start from the embeddings of the labels' texts"}


def run(job: dict, channel) -> None:
    opt_cfg, rt = job["optim"], job["runtime"]
    run_dir = Path(job["run_dir"])
    device, autocast = runtime.setup(rt)
    torch.manual_seed(opt_cfg["seed"])
    pad_id = job["model"]["pad_token_id"]

    # ---- data ----
    heads = job["heads"]
    train = shards.load(job["data"]["train"], heads)
    val = shards.load(job["data"]["validation"], heads) if job["data"]["validation"] else None
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
    optimizer = torch.optim.AdamW(groups, betas=tuple(opt_cfg["betas"]), eps=opt_cfg["eps"], fused=device.type == "cuda")
    trainable = [p for g in groups for p in g["params"]]
    stage = job["contrastive"]
    pre = stage["steps"] if stage else 0
    if stage:
        # The contrastive stage's own optimizer: the encoder's parameters at the stage's rate.
        enc_groups = [g | {"lr": stage["lr"], "base_lr": stage["lr"]} for g in param_groups(model.encoder, stage["lr"], stage["lr"], opt_cfg["weight_decay"])]
        enc_optimizer = torch.optim.AdamW(enc_groups, betas=tuple(opt_cfg["betas"]), eps=opt_cfg["eps"], fused=device.type == "cuda")

    start_step = 0
    if job["resume_from"]:
        # A checkpoint of the contrastive stage (or its last step) holds that stage's optimizer.
        in_stage = stage is not None and checkpoint.step_of(job["resume_from"]) <= pre
        start_step = checkpoint.restore(job["resume_from"], model, enc_optimizer if in_stage else optimizer)
    channel.emit(
        "started",
        parameters=sum(p.numel() for p in model.parameters()),
        trainable_parameters=sum(p.numel() for p in trainable),
        start_step=start_step,
        total_steps=opt_cfg["total_steps"],
    )

    # ---- what the loop asks of a classifier ----
    def micro_batches(epoch: int) -> list:
        return shards.epoch_batches(train.lengths, opt_cfg["batch_size"], opt_cfg["seed"], epoch, opt_cfg["group_by_length"])

    def accumulate(group: list) -> tuple:
        """One optimizer step's micro-batches; the loss of each is divided by the examples of the
        whole step, so the result equals one big batch."""
        n_examples = sum(len(b) for b in group)
        batches = [shards.collate(train, idx, pad_id, model.token_heads) for idx in group]
        n_tagged = sum(int((b["labels"][h] >= 0).sum()) for b in batches for h in model.token_heads)
        step_loss = torch.zeros((), device=device)
        tokens = 0
        for batch in batches:
            labels = {k: v.to(device, non_blocking=True) for k, v in batch["labels"].items()}
            with autocast:
                logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
            loss = head_losses(logits, labels, heads, job["couplings"], n_examples, n_tagged)
            loss.backward()
            step_loss += loss.detach()
            tokens += batch["tokens"]
        return step_loss, tokens, n_examples

    def evaluate(step: int, epoch: float) -> str:
        if val is None:
            return "continue"
        logits, loss = predict_logits(model, val, heads, pad_id, opt_cfg["eval_batch_size"], device, autocast)
        paths = write_logits(run_dir / "evals" / step_name(step), logits)
        channel.emit("eval", step=step, epoch=epoch, loss=loss, logits=paths, count=val.count)
        return channel.await_control()["type"]

    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    ranks = runtime.Ranks({"processes": 1, "device": rt["device"]})

    if stage and start_step < pre:
        pairs = pairs_stage.load(stage)
        channel.emit("log", level="info", message=f"contrastive stage: {stage['count']} pairs in {pre} steps, then the heads")
        reason = loop.train(
            job,
            channel,
            model=model,
            optimizer=enc_optimizer,
            params=[p for g in enc_groups for p in g["params"]],
            ranks=ranks,
            start_step=start_step,
            micro_batches=lambda _epoch: pairs_stage.batches(pairs, stage["batch_size"]),
            accumulate=lambda group: pairs_stage.accumulate(model, train, pairs, group, pad_id, device, autocast),
            # Nothing to judge before the heads learn: its evaluations are checkpoints only.
            evaluate=lambda step, epoch: "continue",
            save=lambda step: checkpoint.save(ckpt_dir, step, model, enc_optimizer),
            optim=pairs_stage.optim(stage, opt_cfg),
            last=False,
            stage="contrastive",
        )
        if reason != "completed":
            return
        start_step = pre
    if start_step == pre and job["head_init"]:
        # The heads' stage begins here (also when resumed from the contrastive stage's last checkpoint).
        init_heads(model, job["head_init"], train, heads, pad_id, opt_cfg["eval_batch_size"], device, autocast)
        channel.emit("log", level="info", message=HEAD_START[job["head_init"]["from"]])
        model.train()
        if start_step == opt_cfg["total_steps"] and not job["resume_from"]:
            # Zero-shot: nothing to train; its one evaluation and checkpoint.
            evaluate(start_step, 0.0)
            checkpoint.save(ckpt_dir, start_step, model, optimizer)
            channel.emit("checkpoint", step=start_step, path=str(ckpt_dir / step_name(start_step)))
    loop.train(
        job,
        channel,
        model=model,
        optimizer=optimizer,
        params=trainable,
        ranks=ranks,
        start_step=start_step,
        micro_batches=micro_batches,
        accumulate=accumulate,
        evaluate=evaluate,
        save=lambda step: checkpoint.save(ckpt_dir, step, model, optimizer),
        first_step=pre,
    )
