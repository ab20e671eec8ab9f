"""Causal language models: loading (with a peft adapter), LM shards, packed batches, and the
log-probabilities of learnt tokens computed chunk by chunk (the full logits of a 128k vocabulary
are never held at once)."""
import functools
import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch.utils.checkpoint import checkpoint

from .model import LAYER_INDEX
from .protocol import EngineError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# Rows of hidden states whose logits are computed (and recomputed in the backward pass) at once:
# 4096 x 128k vocabulary x 4 bytes = 2 GiB of fp32 logits at most, instead of all of them.
LOGIT_CHUNK = 4096


def load(spec: dict, adapter: dict | None, trainable: bool):
    """The base model from its directory, then the run's adapter (spec["adapter"]) or a new one
    (adapter = the job's AdapterSpec with a method other than none)."""
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(
            spec["path"], dtype=DTYPES[spec["dtype"]], use_safetensors=True, trust_remote_code=False, attn_implementation="sdpa"
        )
    except (OSError, ValueError) as e:
        raise EngineError("model_load", f"cannot load the causal LM from {spec['path']}: {e}") from None
    model.config.use_cache = False  # training never decodes; generation turns it back on
    if spec["adapter"]:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, spec["adapter"], is_trainable=trainable)
        except (OSError, ValueError) as e:
            raise EngineError("model_load", f"cannot load the adapter from {spec['adapter']}: {e}") from None
    elif adapter is not None and adapter["method"] != "none":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=adapter["r"], lora_alpha=adapter["alpha"], lora_dropout=adapter["dropout"], target_modules=adapter["target_modules"],
            use_dora=adapter["method"] == "dora", task_type="CAUSAL_LM", bias="none",
        )
        model = get_peft_model(model, config)
    return model


def causal(model):
    """The *ForCausalLM under a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def freeze(model, spec: dict) -> None:
    """Full fine-tuning only (an adapter already freezes the base)."""
    patterns = [re.compile(p) for p in spec["patterns"]]
    for name, param in model.named_parameters():
        layer = LAYER_INDEX.search(name)
        if (
            (spec["embeddings"] and ("embed_tokens" in name or "wte" in name or "wpe" in name))
            or (layer is not None and int(layer.group(1)) < spec["layers"])
            or any(p.search(name) for p in patterns)
        ):
            param.requires_grad_(False)


@dataclass
class LmShard:
    tokens: np.ndarray  # uint32
    offsets: np.ndarray  # uint32, count + 1
    mask: np.ndarray | None  # uint8 per token
    rows: list  # row -> array of sequence indices

    @property
    def count(self) -> int:
        return len(self.offsets) - 1

    def row_sizes(self) -> tuple:
        """(tokens, learnt tokens) of every row, as collate counts them: what a step's loss is
        divided by, known to every process without asking the others."""
        lengths = np.diff(self.offsets)
        if self.mask is None:
            learnt = np.zeros(self.count, dtype=np.int64)
        else:
            cum = np.concatenate([[0], np.cumsum(self.mask, dtype=np.int64)])
            learnt = cum[self.offsets[1:]] - cum[self.offsets[:-1] + 1]  # the first token is never learnt
            learnt = np.maximum(learnt, 0)
        return np.array([lengths[r].sum() for r in self.rows]), np.array([learnt[r].sum() for r in self.rows])


def load_shard(ref: dict, pairs: bool) -> LmShard:
    try:
        tokens = np.fromfile(ref["tokens"], dtype="<u4")
        offsets = np.fromfile(ref["offsets"], dtype="<u4").astype(np.int64)
        mask = np.fromfile(ref["loss_mask"], dtype=np.uint8) if ref["loss_mask"] else None
        if ref["rows"]:
            row_off = np.fromfile(ref["rows"]["offsets"], dtype="<u4").astype(np.int64)
            items = np.fromfile(ref["rows"]["items"], dtype="<u4").astype(np.int64)
    except OSError as e:
        raise EngineError("data", f"cannot read shard: {e}") from None
    n = ref["count"]
    if len(offsets) != n + 1 or int(offsets[-1]) != len(tokens) or (mask is not None and len(mask) != len(tokens)):
        raise EngineError("data", f"shard {ref['tokens']} is inconsistent ({n} sequences, {len(tokens)} tokens)")
    if ref["rows"]:
        rows = [items[row_off[r] : row_off[r + 1]] for r in range(ref["rows"]["count"])]
    elif pairs:
        if n % 2:
            raise EngineError("data", f"shard {ref['tokens']} holds {n} sequences, not pairs")
        rows = [np.array([2 * i, 2 * i + 1]) for i in range(n // 2)]
    else:
        rows = [np.array([i]) for i in range(n)]
    return LmShard(tokens, offsets, mask, rows)


def collate(shard: LmShard, rows: list, pad_id: int, pack: bool) -> dict:
    """Rows to tensors. pack=True concatenates a row's sequences into one line, positions restarting
    at every sequence (transformers then keeps attention inside each sequence); pack=False puts each
    sequence on its own line. Padding is its own "sequence" (positions restart) and is never learnt.
    `seq` numbers the sequences of the batch (-1 = padding), for per-sequence sums."""
    lines = [[int(i) for i in r] for r in rows] if pack else [[int(i)] for r in rows for i in r]
    lengths = [sum(int(shard.offsets[i + 1] - shard.offsets[i]) for i in line) for line in lines]
    width = max(lengths)
    ids = np.full((len(lines), width), pad_id, dtype=np.int64)
    labels = np.full((len(lines), width), -100, dtype=np.int64)
    pos = np.zeros((len(lines), width), dtype=np.int64)
    seq = np.full((len(lines), width), -1, dtype=np.int64)
    n_seq = 0
    for r, line in enumerate(lines):
        at = 0
        for i in line:
            s, e = int(shard.offsets[i]), int(shard.offsets[i + 1])
            ids[r, at : at + e - s] = shard.tokens[s:e]
            if shard.mask is not None:
                learnt = shard.mask[s:e].astype(bool)
                learnt[0] = False  # never predicted from the sequence before it in a packed line
                labels[r, at : at + e - s] = np.where(learnt, shard.tokens[s:e].astype(np.int64), -100)
            pos[r, at : at + e - s] = np.arange(e - s)
            seq[r, at : at + e - s] = n_seq
            n_seq += 1
            at += e - s
        pos[r, at:] = np.arange(width - at)
    # Which hidden states predict a learnt token (position p predicts token p + 1), found here on
    # the CPU: a boolean mask on the GPU would make it wait for the forward pass (a sync per step).
    row, col = np.nonzero(labels[:, 1:] != -100)
    return {
        "input_ids": torch.from_numpy(ids),
        "labels": torch.from_numpy(labels),
        "position_ids": torch.from_numpy(pos),
        "learnt_index": torch.from_numpy(row * width + col),
        "targets": torch.from_numpy(labels[:, 1:][row, col]),
        "target_seq": torch.from_numpy(seq[:, 1:][row, col]),
        "sequences": n_seq,
        "tokens": int(sum(lengths)),
    }


def mover(device):
    """Host-to-GPU copies from pinned memory: from pageable memory a copy waits for the GPU to
    finish its queue, so every step would start with an idle GPU."""
    if torch.device(device).type != "cuda":
        return lambda t: t
    return lambda t: t.pin_memory().to(device, non_blocking=True)


def _chunk_logp(hidden, targets, head):
    return -F.cross_entropy(head(hidden).float(), targets, reduction="none")


class FrozenHeadLogp(torch.autograd.Function):
    """log p(target) through a frozen output layer, its gradient taken in the forward pass.

    With the output matrix frozen (adapters), the backward pass needs only d logp / d hidden =
    (onehot - softmax) @ W, which the forward pass can compute while the chunk's logits are at hand:
    two vocabulary-sized matmuls a token instead of three (checkpointing recomputes the logits),
    and the fp32 logits are written once. Exact for any upstream gradient (per-token scaling).
    """

    @staticmethod
    def forward(ctx, hidden, targets, weight):
        dtype = torch.get_autocast_dtype(hidden.device.type) if torch.is_autocast_enabled(hidden.device.type) else hidden.dtype
        with torch.autocast(hidden.device.type, enabled=False):
            h, w = hidden.to(dtype), weight.to(dtype)
            logits = (h @ w.t()).float()
            lse = torch.logsumexp(logits, dim=-1)
            logp = logits.gather(1, targets[:, None])[:, 0] - lse
            # d logp / d logits = onehot(target) - softmax, built in place in the logits' memory.
            grad = logits.sub_(lse[:, None]).exp_().neg_()
            grad.scatter_add_(1, targets[:, None], torch.ones_like(logp)[:, None])
            ctx.save_for_backward((grad.to(dtype) @ w).to(hidden.dtype))
        return logp

    @staticmethod
    def backward(ctx, upstream):
        (grad_hidden,) = ctx.saved_tensors
        return grad_hidden * upstream[:, None].to(grad_hidden.dtype), None, None


def sequence_logps(model, batch: dict, device, with_grad: bool):
    """Summed log-probability of the learnt tokens of each sequence in the batch, and their count.

    Only positions that are learnt reach the output layer: the hidden state before a learnt token
    is gathered first, then its logits are computed in chunks (a frozen output layer: gradient in
    the forward pass; a trained one: under activation checkpointing), so neither the prompt's
    logits nor all logits at once are ever materialised.
    """
    base = causal(model)
    move = mover(device)
    hidden = base.base_model(input_ids=move(batch["input_ids"]), position_ids=move(batch["position_ids"]), use_cache=False).last_hidden_state
    h = hidden.reshape(-1, hidden.shape[-1]).index_select(0, move(batch["learnt_index"]))
    y = move(batch["targets"])
    seq = move(batch["target_seq"])
    head = base.get_output_embeddings()
    frozen = type(head) is torch.nn.Linear and head.bias is None and not head.weight.requires_grad
    parts = []
    for hc, yc in zip(h.split(LOGIT_CHUNK), y.split(LOGIT_CHUNK)):
        if with_grad and frozen:
            parts.append(FrozenHeadLogp.apply(hc, yc, head.weight))
        elif with_grad:
            parts.append(checkpoint(functools.partial(_chunk_logp, head=head), hc, yc, use_reentrant=False))
        else:
            parts.append(_chunk_logp(hc, yc, head))
    logp = torch.cat(parts) if parts else h.new_zeros(0, dtype=torch.float32)
    n = batch["sequences"]
    sums = torch.zeros(n, device=device, dtype=torch.float32).index_add_(0, seq, logp)
    counts = torch.zeros(n, device=device, dtype=torch.float32).index_add_(0, seq, torch.ones_like(logp))
    return sums, counts


def save_pretrained(model, directory) -> None:
    """The model as Hugging Face tools read it: a peft adapter folder, or a full model folder."""
    (directory / "model").mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory / "model", safe_serialization=True)


def load_pretrained_weights(model, directory) -> None:
    """The inverse of save_pretrained, into an already built model (resume)."""
    folder = directory / "model"
    if hasattr(model, "get_base_model"):
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(model, load_file(folder / "adapter_model.safetensors"))
        if getattr(result, "unexpected_keys", None):
            raise EngineError("checkpoint", f"adapter weights in {folder} do not fit: {result.unexpected_keys[:3]}")
        return
    files = sorted(folder.glob("*.safetensors"))
    state = {}
    for f in files:
        state.update(load_file(f))
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or [])
    if unexpected or any(k not in tied and not k.endswith("lm_head.weight") for k in missing):
        raise EngineError("checkpoint", f"weights in {folder} do not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
