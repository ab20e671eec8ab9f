"""The log-probabilities of learnt tokens, computed chunk by chunk (the full logits of a 128k
vocabulary are never held at once), with the output layer's gradient taken in the forward pass;
rewards of a reward model; the summed statistics of every sequence of a shard (evaluation)."""

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch.distributed.fsdp import FSDPModule
from torch.utils.checkpoint import checkpoint

from ..protocol import CONSTANTS
from . import varlen
from .data import collate, mover
from .models import causal, is_seq2seq

# Rows of hidden states whose logits are computed (and recomputed in the backward pass) at once:
# 4096 x 128k vocabulary x 4 bytes = 2 GiB of fp32 logits at most, instead of all of them. Defined
# in src/protocol/schema.ts, whose memory estimate counts it.
LOGIT_CHUNK = CONSTANTS["logit_chunk"]


def _chunk_logp(hidden, targets, head):
    return -F.cross_entropy(head(hidden).float(), targets, reduction="none")


def _logp_and_grad(logits, targets):
    """From a chunk's logits (the matmul's dtype): log p(target) in fp32, and d logp / d logits =
    onehot(target) - softmax in the logits' dtype. The plain expression, for the CPU; on a GPU
    fused_ce.py does the same in one kernel."""
    lf = logits.float()
    lse = torch.logsumexp(lf, dim=-1)
    logp = lf.gather(1, targets[:, None])[:, 0] - lse
    cols = torch.arange(lf.shape[1], device=lf.device)
    grad = (cols[None, :] == targets[:, None]).float() - torch.exp(lf - lse[:, None])
    return logp, grad.to(logits.dtype)


def logp_and_grad(logits, targets):
    """As _logp_and_grad; on a GPU the gradient overwrites the logits (a chunk's own, never reused)."""
    if logits.device.type != "cuda":
        return _logp_and_grad(logits, targets)
    from .. import fused_ce  # Triton, which exists only beside a GPU build of torch

    return fused_ce.logp_and_grad_(logits, targets)


class FrozenHeadLogp(torch.autograd.Function):
    """log p(target) through a frozen output layer, its gradient taken in the forward pass.

    With the output matrix frozen (adapters), the backward pass needs only d logp / d hidden =
    (onehot - softmax) @ W, which the forward pass can compute while the chunk's logits are at hand:
    two vocabulary-sized matmuls a token instead of three (checkpointing recomputes the logits),
    and the logits are read twice and never held in fp32. Exact for any upstream gradient
    (per-token scaling).
    """

    @staticmethod
    def forward(ctx, hidden, targets, weight):
        dtype = torch.get_autocast_dtype(hidden.device.type) if torch.is_autocast_enabled(hidden.device.type) else hidden.dtype
        with torch.autocast(hidden.device.type, enabled=False):
            h, w = hidden.to(dtype), weight.to(dtype)
            logp, grad = logp_and_grad(h @ w.t(), targets)
            ctx.save_for_backward((grad @ w).to(hidden.dtype))
        return logp

    @staticmethod
    def backward(ctx, upstream):
        (grad_hidden,) = ctx.saved_tensors
        return grad_hidden * upstream[:, None].to(grad_hidden.dtype), None, None


class TrainedHeadLogpSum(torch.autograd.Function):
    """Summed log p(target) of all rows through a trained output layer, both gradients (hidden and
    weight) taken in the forward pass, chunk by chunk: three vocabulary-sized matmuls a token
    (logits, d hidden, d weight) where checkpointed chunks take four, and the elementwise work fused
    as in FrozenHeadLogp. The output is one number, so the upstream gradient is one number too and
    scales both saved gradients exactly. Returns (sum, per-row log p without gradient)."""

    @staticmethod
    def forward(ctx, hidden, targets, weight):
        dtype = torch.get_autocast_dtype(hidden.device.type) if torch.is_autocast_enabled(hidden.device.type) else hidden.dtype
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros(weight.shape, device=weight.device, dtype=torch.float32)
        logps = []
        with torch.autocast(hidden.device.type, enabled=False):
            w = weight.to(dtype)
            for at in range(0, hidden.shape[0], LOGIT_CHUNK):
                h = hidden[at : at + LOGIT_CHUNK].to(dtype)
                logp, grad = logp_and_grad(h @ w.t(), targets[at : at + LOGIT_CHUNK])
                grad_hidden[at : at + LOGIT_CHUNK] = grad @ w
                grad_weight += (grad.t() @ h).float()
                logps.append(logp)
        ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))
        logp = torch.cat(logps) if logps else hidden.new_zeros(0, dtype=torch.float32)
        ctx.mark_non_differentiable(logp)
        return logp.sum(), logp

    @staticmethod
    def backward(ctx, upstream, _):
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * upstream.to(grad_hidden.dtype), None, grad_weight * upstream.to(grad_weight.dtype)


def _decoder_hidden(model, batch: dict, device, index: str) -> torch.Tensor:
    """The decoder's last hidden states at the flat positions batch[index] only."""
    move = mover(device)
    pos = batch["position_ids"]
    inputs = {"input_ids": move(batch["input_ids"]), "position_ids": None if pos is None else move(pos), "use_cache": False}
    ours = causal(model).config._attn_implementation == varlen.ATTENTION
    if ours and batch.get("cu_seq_lens") is not None:
        # Attention by the packed sequences' boundaries, with no mask built (varlen.py).
        inputs["attention_mask"] = varlen.PACKED
        cu = move(batch["cu_seq_lens"])
        if batch["input_ids"].shape[1] == getattr(causal(model), "hone_flex_width", None):
            # A run of short sequences in layers compiled for this one shape (varlen.flex_width):
            # FlexAttention, one block mask for all layers, and nothing else whose size changes.
            inputs["packed_blocks"] = varlen.flex_mask(cu, *batch["input_ids"].shape)
        else:
            inputs.update(cu_seq_lens=cu, max_length=batch["max_length"])
            if torch.device(device).type == "cuda" and not varlen.fast_kernels(device):
                inputs["masked"] = True  # a GPU older than Ampere: SDPA with the rows' block-diagonal mask
    elif ours and pos is None:
        # One sequence a row: causal attention, said outright. Left to itself, transformers derives
        # position ids and checks them for packed sequences on every forward pass, reading a device
        # value back (a host sync each step; varlen.CAUSAL).
        inputs["attention_mask"] = varlen.CAUSAL
    root = causal(model)
    decoder = root.base_model
    if isinstance(root, FSDPModule):
        # Sharded (fsdp.py): a step must enter through the root unit, which gathers the embeddings
        # and the output layer and keeps them gathered until the backward pass. So run the whole
        # model, on one logit per row, and keep what the decoder hands to the output layer.
        seen = {}

        def keep(module, args, out) -> None:  # a hook that returned something would replace the output
            seen["hidden"] = out.last_hidden_state

        hook = decoder.register_forward_hook(keep)
        try:
            root(**inputs, logits_to_keep=1)
        finally:
            hook.remove()
        hidden = seen["hidden"]
    else:
        hidden = decoder(**inputs).last_hidden_state
    return hidden.reshape(-1, hidden.shape[-1]).index_select(0, move(batch[index]))


def _learnt_hidden(model, batch: dict, device):
    """The decoder's hidden states before each learnt token (gathered first, so the prompt never
    reaches the output layer), their targets, their sequence numbers, and the output layer."""
    move = mover(device)
    head = causal(model).get_output_embeddings()
    plain = type(head) is torch.nn.Linear and head.bias is None
    return _decoder_hidden(model, batch, device, "learnt_index"), move(batch["targets"]), move(batch["target_seq"]), head, plain


def _chunked_logp(h, y, head, plain: bool, with_grad: bool) -> torch.Tensor:
    """log p(target) per row, LOGIT_CHUNK rows at a time: a frozen plain output layer takes its
    gradient in the forward pass, a trained one is checkpointed (its logits recomputed)."""
    frozen = plain and not head.weight.requires_grad
    parts = []
    for hc, yc in zip(h.split(LOGIT_CHUNK), y.split(LOGIT_CHUNK)):
        if with_grad and frozen:
            parts.append(FrozenHeadLogp.apply(hc, yc, head.weight))
        elif with_grad:
            parts.append(checkpoint(functools.partial(_chunk_logp, head=head), hc, yc, use_reentrant=False))
        else:
            parts.append(_chunk_logp(hc, yc, head))
    return torch.cat(parts) if parts else h.new_zeros(0, dtype=torch.float32)


def _per_sequence(batch: dict, device, seq, logp):
    n = batch["sequences"]
    sums = torch.zeros(n, device=device, dtype=torch.float32).index_add_(0, seq, logp)
    counts = torch.zeros(n, device=device, dtype=torch.float32).index_add_(0, seq, torch.ones_like(logp))
    return sums, counts


def _seq2seq_logp(model, batch: dict, device):
    """Per learnt token log p of an encoder-decoder, through the model's own forward (T5 rescales
    its tied output layer's input, BART adds a logits bias: the model knows its head)."""
    move = mover(device)
    logits = model(input_ids=move(batch["input_ids"]), attention_mask=move(batch["attention_mask"]), labels=move(batch["labels"]), use_cache=False).logits
    h = logits.reshape(-1, logits.shape[-1]).index_select(0, move(batch["learnt_index"]))
    return -F.cross_entropy(h.float(), move(batch["targets"]), reduction="none"), move(batch["target_seq"])


def token_logps(model, batch: dict, device, with_grad: bool):
    """log p of every learnt token of a causal LM's batch, flat in batch order, and the number of
    its sequence: per-token weights (online RL's advantages) without the full logits ever held."""
    h, y, seq, head, plain = _learnt_hidden(model, batch, device)
    return _chunked_logp(h, y, head, plain, with_grad), seq


def sequence_logps(model, batch: dict, device, with_grad: bool):
    """Summed log-probability of the learnt tokens of each sequence in the batch, and their count.

    The logits are computed in chunks (a frozen output layer: gradient in the forward pass; a
    trained one: under activation checkpointing), so neither the prompt's logits nor all logits at
    once are ever materialised. DPO needs these per-sequence sums with gradients; SFT needs only
    their total (summed_logp, cheaper with a trained output layer).
    """
    if batch.get("seq2seq"):
        logp, seq = _seq2seq_logp(model, batch, device)
        return _per_sequence(batch, device, seq, logp)
    h, y, seq, head, plain = _learnt_hidden(model, batch, device)
    return _per_sequence(batch, device, seq, _chunked_logp(h, y, head, plain, with_grad))


def sequence_rewards(model, batch: dict, device) -> torch.Tensor:
    """A reward model's number for each sequence: the score layer on the hidden state of the
    sequence's last token (the end of the answer), as AutoModelForSequenceClassification pools."""
    return causal(model).score(_decoder_hidden(model, batch, device, "last_index"))[:, 0].float()


def summed_logp(model, batch: dict, device) -> torch.Tensor:
    """Sum of log p over every learnt token of the batch, with gradients: the numerator of the SFT
    loss. A trained plain output layer (full fine-tuning) takes its fused path here."""
    if batch.get("seq2seq"):
        return _seq2seq_logp(model, batch, device)[0].sum()
    h, y, _, head, plain = _learnt_hidden(model, batch, device)
    if plain and head.weight.requires_grad:
        total, _ = TrainedHeadLogpSum.apply(h, y, head.weight)
        return total
    return _chunked_logp(h, y, head, plain, with_grad=True).sum()


@torch.no_grad()
def all_logps(model, shard, pad_id, pack, batch_size, device, autocast, reward=False) -> np.ndarray:
    """[count, 2]: summed log-probability and learnt-token count of every sequence; for a reward
    model, its reward (count 0: a reward learns no tokens)."""
    model.eval()
    out = np.zeros((shard.count, 2), dtype=np.float32)
    for i in range(0, len(shard.rows), batch_size):
        rows = shard.rows[i : i + batch_size]
        batch = collate(shard, rows, pad_id, pack, seq2seq=is_seq2seq(model))
        with autocast:
            if reward:
                sums, counts = sequence_rewards(model, batch, device), torch.zeros(batch["sequences"])
            else:
                sums, counts = sequence_logps(model, batch, device, with_grad=False)
        order = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        out[order, 0] = sums.float().cpu().numpy()
        out[order, 1] = counts.cpu().numpy()
    return out
