"""Language models: loading (with a peft adapter), LM shards, packed batches, and the
log-probabilities of learnt tokens computed chunk by chunk (the full logits of a 128k vocabulary
are never held at once). Causal LMs, and encoder-decoders (T5, BART: spec["architecture"] ==
"seq2seq"), whose sequences are source tokens (mask 0) then target tokens (mask 1)."""
import functools
import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch.distributed.fsdp import FSDPModule
from torch.utils.checkpoint import checkpoint

from . import runtime
from .model import LAYER_INDEX
from .protocol import EngineError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# Rows of hidden states whose logits are computed (and recomputed in the backward pass) at once:
# 4096 x 128k vocabulary x 4 bytes = 2 GiB of fp32 logits at most, instead of all of them.
LOGIT_CHUNK = 4096


def load(spec: dict, adapter: dict | None, trainable: bool):
    """The base model from its directory, then the run's adapter (spec["adapter"]) or a new one
    (adapter = the job's AdapterSpec with a method other than none)."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoModelForSequenceClassification

    seq2seq = spec["architecture"] == "seq2seq"
    reward = spec["head"] == "reward"
    common = dict(dtype=DTYPES[spec["dtype"]], use_safetensors=True, trust_remote_code=False)
    try:
        if reward:  # the decoder with one output number; the score layer is new on a base model
            model = AutoModelForSequenceClassification.from_pretrained(spec["path"], num_labels=1, attn_implementation="sdpa", **common)
            model.config.pad_token_id = spec["pad_token_id"]
        elif seq2seq:  # each architecture's own attention (T5's relative position bias is not SDPA's)
            model = AutoModelForSeq2SeqLM.from_pretrained(spec["path"], **common)
        else:
            model = AutoModelForCausalLM.from_pretrained(spec["path"], attn_implementation="sdpa", **common)
    except (OSError, ValueError) as e:
        raise EngineError("model_load", f"cannot load the {'encoder-decoder' if seq2seq else 'causal LM'} from {spec['path']}: {e}") from None
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
            # SEQ_CLS makes peft train and save the new score layer whole beside the adapter.
            use_dora=adapter["method"] == "dora", task_type="SEQ_CLS" if reward else "SEQ_2_SEQ_LM" if seq2seq else "CAUSAL_LM", bias="none",
        )
        model = get_peft_model(model, config)
    return model


def causal(model):
    """The *ForCausalLM under a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def is_seq2seq(model) -> bool:
    return bool(getattr(causal(model).config, "is_encoder_decoder", False))


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


def collate_seq2seq(shard: LmShard, rows: list, pad_id: int) -> dict:
    """Encoder-decoder rows: each sequence splits where its mask turns on, into the encoder's input
    (right-padded, with an attention mask) and the decoder's labels (-100 past the end; the model
    shifts them right behind its decoder start token itself). Decoder position t predicts label t."""
    seqs = [int(i) for r in rows for i in r]
    src, tgt = [], []
    for i in seqs:
        s, e = int(shard.offsets[i]), int(shard.offsets[i + 1])
        learnt = np.flatnonzero(shard.mask[s:e])
        cut = int(learnt[0]) if len(learnt) else e - s
        src.append(shard.tokens[s : s + cut].astype(np.int64))
        tgt.append(shard.tokens[s + cut : e].astype(np.int64))
    n, ws, wt = len(seqs), max(len(x) for x in src), max(1, max(len(y) for y in tgt))
    ids = np.full((n, ws), pad_id, dtype=np.int64)
    attention = np.zeros((n, ws), dtype=np.int64)
    labels = np.full((n, wt), -100, dtype=np.int64)
    for r, (x, y) in enumerate(zip(src, tgt)):
        ids[r, : len(x)], attention[r, : len(x)], labels[r, : len(y)] = x, 1, y
    row, col = np.nonzero(labels != -100)
    return {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(attention),
        "labels": torch.from_numpy(labels),
        "learnt_index": torch.from_numpy(row * wt + col),
        "targets": torch.from_numpy(labels[row, col]),
        "target_seq": torch.from_numpy(row),
        "sequences": n,
        "tokens": int(sum(len(x) + len(y) for x, y in zip(src, tgt))),
        "seq2seq": True,
    }


def collate(shard: LmShard, rows: list, pad_id: int, pack: bool, seq2seq: bool = False) -> dict:
    """Rows to tensors. pack=True concatenates a row's sequences into one line, positions restarting
    at every sequence (transformers then keeps attention inside each sequence); pack=False puts each
    sequence on its own line. Padding is its own "sequence" (positions restart) and is never learnt.
    `seq` numbers the sequences of the batch (-1 = padding), for per-sequence sums."""
    if seq2seq:
        return collate_seq2seq(shard, rows, pad_id)
    lines = [[int(i) for i in r] for r in rows] if pack else [[int(i)] for r in rows for i in r]
    lengths = [sum(int(shard.offsets[i + 1] - shard.offsets[i]) for i in line) for line in lines]
    width = max(lengths)
    ids = np.full((len(lines), width), pad_id, dtype=np.int64)
    labels = np.full((len(lines), width), -100, dtype=np.int64)
    pos = np.zeros((len(lines), width), dtype=np.int64)
    seq = np.full((len(lines), width), -1, dtype=np.int64)
    n_seq = 0
    last = []  # flat index of each sequence's last token (a reward head reads it)
    for r, line in enumerate(lines):
        at = 0
        for i in line:
            s, e = int(shard.offsets[i]), int(shard.offsets[i + 1])
            last.append(r * width + at + e - s - 1)
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
        # Restarting positions only where a line holds several sequences. Otherwise none at all:
        # transformers then attends causally with no mask (the flash kernel), where any
        # position_ids make it build a block mask under torch.compile (a slower masked kernel)
        # or inspect them on the GPU (a sync) in eager mode. Trailing padding is never learnt
        # and, being last, never attended to, so its positions do not matter.
        "position_ids": torch.from_numpy(pos) if any(len(line) > 1 for line in lines) else None,
        "learnt_index": torch.from_numpy(row * width + col),
        "targets": torch.from_numpy(labels[:, 1:][row, col]),
        "target_seq": torch.from_numpy(seq[:, 1:][row, col]),
        "last_index": torch.tensor(last, dtype=torch.int64),
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
    from . import fused_ce  # Triton, which exists only beside a GPU build of torch

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


def compile_decoder(model) -> None:
    """torch.compile each decoder layer, not the decoder's forward: the attention mask is then built
    outside the compiled code, where transformers can tell that a batch needs none and lets SDPA
    attend causally with its flash kernel (while tracing, transformers before torch 2.14 always
    builds a dense mask, and masked attention took 2.5x as long at 2048 tokens on an H200)."""
    if is_seq2seq(model):  # two stacks: the whole model, one graph
        causal(model).compile()
        return
    runtime.compile_blocks(causal(model).base_model)


def save_pretrained(model, directory, state_dict=None) -> None:
    """The model as Hugging Face tools read it: a peft adapter folder, or a full model folder.
    state_dict: the weights gathered whole from FSDP shards (default: the model's own)."""
    (directory / "model").mkdir(parents=True, exist_ok=True)
    extra = {} if state_dict is None else {"state_dict": state_dict}
    model.save_pretrained(directory / "model", safe_serialization=True, **extra)


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
