"""Fine-tune a language model: supervised (sft; causal or encoder-decoder), on preferences (dpo), or a reward model (reward). The loop, top to bottom.

As in classify_train.py, every setting comes from the job (LmTrainJob in src/protocol/schema.ts);
after each evaluation the engine writes per-sequence statistics, waits for the orchestrator's
continue/stop, then checkpoints. The two objectives differ in one function each:

  sft  loss = -(sum of log p(learnt token)) / learnt tokens of the optimizer step
  dpo  a preference loss (lm/preference.py: dpo, orpo, simpo or kto), averaged over pairs (or kto's
       examples), on the summed log-probabilities of the answers under the policy and, for dpo and
       kto, the reference. The reference is the starting model; its log-probabilities are computed
       once, before training, so no second model is held in memory.
  reward  loss = -log sigmoid(r_c - r_r), averaged over pairs, where r is the reward model's
       number for a whole sequence (prompt + answer): a pairwise (Bradley-Terry) reward model.
"""

import contextlib
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import checkpoint, fsdp, fused_lora, lm, loop, runtime
from ..lm import all_logps, epoch_rows
from ..outputs import write_logits
from ..protocol import CONSTANTS, EngineError, step_name


def run(job: dict, channel) -> None:
    opt_cfg, rt, objective = job["optim"], job["runtime"], job["objective"]
    run_dir = Path(job["run_dir"])
    device, autocast = runtime.setup(rt)
    ranks = runtime.Ranks(rt)  # one process, or one of torchrun's
    device = ranks.device(device)
    job = ranks.adopt_head(job)  # several nodes: the same job everywhere, the head's resume point
    torch.manual_seed(opt_cfg["seed"])
    pad_id = job["model"]["pad_token_id"]
    dpo = objective == "dpo"
    reward = objective == "reward"
    pairwise = dpo or reward
    preference = job["dpo"]

    # ---- data ----
    train = lm.load_shard(job["data"]["train"], pairs=pairwise)
    val = lm.load_shard(job["data"]["validation"], pairs=pairwise) if job["data"]["validation"] else None
    pack = job["data"]["train"]["rows"] is not None
    # A micro-batch is batch_size rows on each process; process r takes the r-th slice of it.
    B, W = opt_cfg["batch_size"], ranks.world
    micro_per_epoch = math.ceil(len(train.rows) / (B * W))
    steps_per_epoch = math.ceil(micro_per_epoch / opt_cfg["grad_accum"])
    if steps_per_epoch != opt_cfg["steps_per_epoch"]:
        raise EngineError("bad_job", f"steps_per_epoch is {opt_cfg['steps_per_epoch']}, the shard gives {steps_per_epoch}")

    # ---- model and optimizer ----
    model = lm.load(job["model"], job["adapter"], trainable=True)
    if job["adapter"]["method"] == "none":
        lm.freeze(model, job["freeze"])
    if not lm.quantized(model):  # a 4-bit base was placed on its device as it loaded
        model.to(device)
    if device.type == "cuda" and job["adapter"]["method"] == "lora" and not ranks.sharded and not lm.quantized(model):
        # Each adapter's product folded into its frozen matmul, q/k/v and gate/up one matmul a group
        # (fused_lora.py): the same numbers without peft's memory-bound side paths. On the CPU
        # those cost little, and peft's forward runs.
        fused_lora.fuse(model)
    seq2seq = lm.is_seq2seq(model)
    lm.checkpoint_layers(model, rt["gradient_checkpointing"])
    row_tokens, row_learnt = train.row_sizes()
    packed = pack and not pairwise and not seq2seq
    # Packed short sequences on a GPU: every batch one shape, attending through FlexAttention.
    flex_width = lm.varlen.flex_width(row_tokens, train.count, device) if rt["compile"] and packed else None
    if rt["compile"]:
        # The decoder's layers only (the output layer runs in chunks outside them), for symbolic
        # shapes at once when the rows differ in length (real data), else for the one shape.
        lm.compile_decoder(model, varying=bool(np.ptp(row_tokens)), budget=rt["activation_budget"], flex_width=flex_width)

    # The reference of DPO (and KTO) is the model as it starts; measured before any step (and
    # before a resumed run loads its checkpoint), for the training pairs and the validation pairs.
    reference = {}
    if dpo and lm.needs_reference(preference):
        channel.emit("log", level="info", message=f"reference log-probabilities of {train.count // 2} training pairs")
        reference["train"] = all_logps(model, train, pad_id, False, opt_cfg["eval_batch_size"], device, autocast)[:, 0]
        if val is not None:
            reference["validation"] = all_logps(model, val, pad_id, False, opt_cfg["eval_batch_size"], device, autocast)[:, 0]

    if ranks.sharded:
        fsdp.shard(lm.causal(model))  # after the reference: the optimizer below sees the shards
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = lm.adamw(params, opt_cfg, device, offload=rt["optimizer_offload"])

    start_step = 0
    resume_from = checkpoint.from_head(job.get("head_resume_from", job["resume_from"]), ranks, run_dir / "checkpoints" / "from-head", device)
    if resume_from:

        def load_weights(d):
            with fsdp.loading_full_tensors() if ranks.sharded else contextlib.nullcontext():
                lm.load_pretrained_weights(model, d)

        start_step = checkpoint.restore(resume_from, model, optimizer, load_model=load_weights)
    channel.emit(
        "started",
        parameters=sum(p.numel() for p in model.parameters()),
        trainable_parameters=sum(p.numel() for p in params),
        start_step=start_step,
        total_steps=opt_cfg["total_steps"],
    )

    def evaluate(step: int, epoch: float) -> str | None:
        """Rank 0's decision after scoring the validation split (None on the other ranks; under
        FSDP they score it too, since every forward pass needs all ranks' shards)."""
        if val is None:
            return "continue" if ranks.main else None
        if not ranks.joins_rank0:
            return None
        stats = all_logps(model, val, pad_id, False, opt_cfg["eval_batch_size"], device, autocast, reward=reward)
        if not ranks.main:
            return None
        columns = CONSTANTS["eval_columns"][job["objective"]]
        outputs = dict(zip(columns, (-stats[:, 0:1], stats[:, 1:2])))
        if reward:
            outputs = dict(zip(columns, (stats[:, 0:1],)))
            loss = float(np.mean(np.logaddexp(0.0, -(stats[0::2, 0] - stats[1::2, 0]))))  # -log sigmoid, stable
        elif dpo:
            ref = reference.get("validation", np.zeros(val.count, dtype=np.float32))  # reference-free: zeros
            outputs = dict(zip(columns, (stats[:, 0:1], ref[:, None], stats[:, 1:2])))
            t = lambda x: None if x is None else torch.from_numpy(np.asarray(x))  # noqa: E731
            loss = float(lm.preference_losses(preference, t(stats[:, 0]), t(stats[:, 1]), t(ref), t(val.labels)).mean())
        else:
            loss = float(-stats[:, 0].sum() / max(1.0, stats[:, 1].sum()))
        paths = write_logits(run_dir / "evals" / step_name(step), outputs)
        channel.emit("eval", step=step, epoch=epoch, loss=loss, logits=paths, count=val.count)
        return channel.await_control()["type"]

    grad_scale = ranks.world if ranks.sharded else 1  # FSDP averages gradients over processes; the step wants their sum

    def batch_loss(batch, rows) -> torch.Tensor:
        """Summed over the micro-batch: the step divides by its learnt tokens (sft) or pairs (dpo, reward)."""
        if reward:
            with autocast:
                r = lm.sequence_rewards(model, batch, device)
            return -F.logsigmoid(r[0::2] - r[1::2]).sum()
        if not dpo:
            with autocast:
                return -lm.summed_logp(model, batch, device)
        with autocast:
            sums, counts = lm.sequence_logps(model, batch, device, with_grad=True)
        order = np.concatenate(rows)  # chosen, rejected, chosen, rejected... (kto: answer, mismatched)
        move = lm.mover(device)
        ref = move(torch.from_numpy(reference["train"][order])) if "train" in reference else None
        labels = move(torch.from_numpy(train.labels[order[0::2] // 2])) if train.labels is not None else None
        return lm.preference_losses(preference, sums, counts, ref, labels).sum()

    # ---- what the loop asks of a language model ----
    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)

    def save(step: int):
        """Every rank calls it (FSDP gathers shards from all of them); rank 0 writes and gets the path."""
        if not ranks.joins_rank0:
            return None
        weights = fsdp.full_state_dict(model, trained_only=job["adapter"]["method"] != "none") if ranks.sharded else None
        return checkpoint.save(ckpt_dir, step, model, optimizer, write_model=lambda d: lm.save_pretrained(model, d, weights), write=ranks.main)

    def micro_batches(epoch: int) -> list:
        """Rows of the epoch in micro-batches of batch_size rows on each of the processes."""
        order = epoch_rows(len(train.rows), opt_cfg["seed"], epoch)
        return [order[i : i + B * W] for i in range(0, len(order), B * W)]

    def accumulate(everyone: list) -> tuple:
        """This process's slice of one step's micro-batches. The step's loss is a mean over all its
        learnt tokens (or pairs), whichever micro-batch and process they fell in: the same as one
        big batch on one device."""
        mine = [m[ranks.rank * B : (ranks.rank + 1) * B] for m in everyone]
        group = [[train.rows[r] for r in m] for m in mine if len(m) > 0]
        shape = (B, flex_width) if flex_width else None
        batches = [lm.collate(train, rows, pad_id, pack and not pairwise, seq2seq=seq2seq, shape=shape) for rows in group]
        step_rows = np.concatenate(everyone)
        denominator = int(row_learnt[step_rows].sum()) if not pairwise else len(step_rows)
        step_loss = torch.zeros((), device=device)
        for batch, rows in zip(batches, group):
            loss = batch_loss(batch, rows) / max(1, denominator)
            (loss * grad_scale).backward()
            step_loss += loss.detach()
        tokens = int(row_tokens[step_rows].sum())
        samples = int(sum(len(train.rows[r]) for r in step_rows)) // (2 if pairwise else 1)
        return step_loss, tokens, samples

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
