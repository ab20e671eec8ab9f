"""Attention for packed rows: several sequences share a row and each attends only to itself.

transformers finds packed rows from restarting position ids and builds a dense block-diagonal mask
for SDPA: B x S x S booleans every forward pass, a read-back of the position ids to the host (a
sync), and a masked kernel that computes every block of the S x S scores, across sequences too.
Here the sequences' boundaries come from the batch (collate knows them on the CPU) as cumulative
offsets over the flattened row, and attention runs on the GPU as Flash Attention's variable-length
kernel (`_flash` below, grouped key heads as they are): only each sequence's own causal triangle is
computed, so attention costs what the sequences cost, not what the row costs.

The model runs under its own attention name, `ATTENTION`: SDPA in every call that brings no
boundaries (unpacked rows, causal without a mask: `CAUSAL`; generation with its padding mask: the
same mask function as "sdpa"), the variable-length kernel in a call that does. A packed batch
hands the decoder `PACKED` in place of a mask, which transformers passes through as an
already-built mask (a 4-D tensor), so it neither builds the dense mask nor reads the positions back.

Many short sequences are where the variable-length kernel is slow: it computes at least one
128 x 128 tile per sequence and head, and its backward accumulates dq in fp32 buffers padded by 128
rows per sequence. On CLINC150 as chat (~44 tokens a conversation, ~46 a 2048-token row) attention
took 27.0 ms of a 162 ms LoRA step on an H100, as much as causal attention over whole 2048-token
rows (25.2 ms; bench/results/lm-profile-h100-*.json). So a run of short sequences (fewer than
FLEX_BELOW tokens on average) attends in compiled layers through FlexAttention with each batch's
block-diagonal causal block mask (flex_mask: several short sequences to a 128 x 128 tile, only the
tiles that hold any allowed pair). One layer forward + backward on an H100 (bench/gpu/packed_attn.py):
~44-token sequences 1.07 ms against the variable-length kernel's 1.64; ~431-token ones 1.48 against
1.32, hence the threshold. The mask comes from torch's create_block_mask, compiled, once a step for
all layers: an earlier layout of our own (BlockMask.from_kv_blocks) made a compiled caller compute
every batch after the first with the first one's mask (bench/gpu/flex_check.py; create_block_mask's
masks are right on every batch there).

FlexAttention wants one shape: compiled for symbolic shapes (as layers are for ragged batches) the
same kernel took 1.74 ms, not 1.07 (bench/results/lm-packed-attn-flex-h100-7.jsonl). So such a run
gives every packed batch one shape (flex_width: the widest packed row in whole 128-token blocks,
short batches filled with lines of padding), compiles the layers for it, and hands them the block
mask alone (offsets and the longest length change size every batch). Packed CLINC150 chat, 1.24B
Llama shape, LoRA r16, an H100, same call: 100.7-101.0k tokens/s against 94.6-94.7k with symbolic
shapes, the loss after 38 steps equal to bf16 noise (bench/results/lm-real-static-ab-h100-7.json).
The forward kernel takes 64 x 64 tiles (FLEX_TILES): 0.94 ms a layer against 1.07 with its default
128 x 128, +1.2% tokens/s in the engine (bench/results/lm-real-static64-ab-h100-8.json).
"""

import functools

import torch
import torch.nn.functional as F

ATTENTION = "hone_sdpa_varlen"


def _sdpa():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward


def boundaries(lengths: list, width: int) -> tuple:
    """Cumulative offsets (int32) of the sequences in a flattened (rows x width) batch, each row's
    trailing padding a sequence of its own, and the longest sequence (the kernel's grid)."""
    cu, at, longest = [0], 0, 1
    for row in lengths:
        used = 0
        for n in row:
            at += n
            used += n
            cu.append(at)
            longest = max(longest, n)
        if used < width:
            at += width - used
            cu.append(at)
            longest = max(longest, width - used)
    return torch.tensor(cu, dtype=torch.int32), longest


def register() -> None:
    """Make ATTENTION a name transformers accepts (before a model loads with it)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    if ATTENTION in AttentionInterface._global_mapping:
        return
    AttentionInterface.register(ATTENTION, attention)
    AttentionMaskInterface.register(ATTENTION, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])


# Flash Attention's variable-length kernel as an operator torch.compile can trace (an opaque call
# with a shape function and a backward), as torch.nn.attention.varlen wraps it. Ours because that
# wrapper, before torch 2.12, wants as many key heads as query heads: the grouped key and value
# heads were repeated (copies, their gradients summed back) where the kernel itself reads each key
# head for its group of query heads. Packed CLINC150 rows on an H100, one layer forward +
# backward: 1.80 ms repeated, 1.63 ms grouped (bench/gpu/packed_attn.py).
@torch.library.custom_op("hone::varlen_flash", mutates_args=())
def _flash(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu: torch.Tensor, longest: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    out, lse, _, _, _ = torch.ops.aten._flash_attention_forward(q, k, v, cu, cu, longest, longest, 0.0, True, False, scale=scale)
    return out, lse


@_flash.register_fake
def _(q, k, v, cu, longest, scale):
    return torch.empty_like(q), q.new_empty((q.shape[1], q.shape[0]), dtype=torch.float32)  # lse: (heads, tokens)


@torch.library.custom_op("hone::varlen_flash_backward", mutates_args=())
def _flash_backward(
    grad: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, out: torch.Tensor, lse: torch.Tensor, cu: torch.Tensor, longest: int, scale: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    no_dropout = torch.zeros(2, dtype=torch.uint64, device=q.device)  # the kernel's random state, unread without dropout
    unused = torch.empty(0, device=q.device)
    return torch.ops.aten._flash_attention_backward(grad.contiguous(), q, k, v, out, lse, cu, cu, longest, longest, 0.0, True, no_dropout, unused, scale=scale)


@_flash_backward.register_fake
def _(grad, q, k, v, out, lse, cu, longest, scale):
    return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)


def _flash_context(ctx, inputs, output):
    q, k, v, cu, longest, scale = inputs
    ctx.save_for_backward(q, k, v, cu, *output)
    ctx.longest, ctx.scale = longest, scale


def _flash_grad(ctx, grad, _grad_lse):
    q, k, v, cu, out, lse = ctx.saved_tensors
    dq, dk, dv = _flash_backward(grad, q, k, v, out, lse, cu, ctx.longest, ctx.scale)
    return dq, dk, dv, None, None, None


_flash.register_autograd(_flash_grad, setup_context=_flash_context)


# Mean tokens a sequence below which a packed run attends through FlexAttention (compiled layers
# on a GPU): measured faster at ~44 tokens, slower at ~431; between them unmeasured.
FLEX_BELOW = 128
# The block mask's blocks (query and key tokens; torch's default), and the forward kernel's tiles
# inside them: the backward found no kernel for 64-token mask blocks (torch 2.11).
FLEX_BLOCK = 128
FLEX_TILES = {"BLOCK_M": 64, "BLOCK_N": 64}


def flex_width(row_tokens, sequences: int, device) -> int | None:
    """The one width of a packed run's batches when it attends through FlexAttention (its layers
    compiled on a GPU of Ampere or newer, its sequences fewer than FLEX_BELOW tokens on average):
    the widest packed row in whole 128-token blocks, the mask's. None: the variable-length kernel."""
    if not fast_kernels(device) or not sequences or int(sum(row_tokens)) >= FLEX_BELOW * sequences:
        return None
    return -(-int(max(row_tokens)) // FLEX_BLOCK) * FLEX_BLOCK


def sequence_ids(cu: torch.Tensor, rows: int, width: int) -> torch.Tensor:
    """(rows, width): the number of the sequence each position belongs to, from the offsets
    (trailing padding a sequence of its own); on the offsets' device, with no sync."""
    lengths = (cu[1:] - cu[:-1]).long()
    return torch.repeat_interleave(torch.arange(len(lengths), device=cu.device), lengths, output_size=rows * width).view(rows, width)


def flex_mask(cu: torch.Tensor, rows: int, width: int):
    """The block mask of a packed batch for FlexAttention: a position attends to the positions of
    its own sequence up to itself."""
    doc = sequence_ids(cu, rows, width)

    def same_sequence_causal(b, h, q_idx, kv_idx):
        return (doc[b, q_idx] == doc[b, kv_idx]) & (q_idx >= kv_idx)

    return _create_block_mask()(same_sequence_causal, rows, None, width, width, device=doc.device, BLOCK_SIZE=FLEX_BLOCK)


@functools.cache
def _create_block_mask():
    """torch's create_block_mask, compiled: one kernel where eagerly it evaluates the mask of every
    position pair through vmap (5.5 ms a batch of 8 x 2048 on an H100, bench/gpu/packed_attn.py).
    The new closure over each batch's sequence ids compiles once (its tensor is an input of the
    graph); compiled for symbolic shapes from the start, since a batch is as wide as its longest
    row: compiled for the first width, it stalled the run (6.4 s on an H100) to recompile on the
    first batch of another."""
    from torch.nn.attention.flex_attention import create_block_mask

    return torch.compile(create_block_mask, dynamic=True)


# Stands for the mask of a packed batch: transformers returns a 4-D mask unchanged.
PACKED = torch.empty(0, 0, 0, 0)
# Stands for the mask of a batch of one sequence a row (trailing padding, never attended to by a
# real token): plain causal attention. Without it transformers runs its packed-sequence check
# (find_packed_sequence_indices) on the derived position ids every forward pass, and its
# `.all()` in an `if` waits for the GPU: the CPU stops queueing work once a step.
CAUSAL = torch.empty(0, 0, 0, 0)


def _masked(query, key, value, cu, scaling):
    """The reference path (the CPU; GPUs older than Ampere, which Flash's kernels need): SDPA row by
    row with the block-diagonal causal mask that the offsets give (rows x S x S; sequences never
    cross rows), key heads repeated so that a GPU's memory-efficient kernel takes the mask."""
    b, hq, s, _ = query.shape
    seq = sequence_ids(cu, b, s)
    pos = torch.arange(s, device=cu.device)
    allowed = (seq[:, :, None] == seq[:, None, :]) & (pos[:, None] >= pos[None, :])
    key, value = (t.repeat_interleave(hq // t.shape[1], 1) for t in (key, value))
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=allowed[:, None].to(query.device), scale=scaling)
    return out.transpose(1, 2)


def fast_kernels(device) -> bool:
    """Whether packed rows may attend through Flash's variable-length kernel or FlexAttention: a GPU
    of compute capability 8.0 or more (Flash's kernels need it; FlexAttention's tiles want its
    shared memory). Asked outside compiled code (logp.py), once a batch; a T4 or V100 takes the
    masked path (`masked=True`) instead of failing in Flash's kernel."""
    device = torch.device(device)
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0)


def attention(
    module, query, key, value, attention_mask, dropout=0.0, scaling=None, cu_seq_lens=None, max_length=None, packed_blocks=None, masked=False, **kwargs
):
    """transformers' attention-function signature: query (B, Hq, S, D), key/value (B, Hkv, S, D);
    returns (B, S, Hq, D). With a block mask (packed_blocks): FlexAttention (in compiled layers; run
    eagerly, flex_attention is torch's slow reference). Without boundaries: transformers' SDPA call
    itself. With them: the variable-length kernel."""
    if dropout and (packed_blocks is not None or cu_seq_lens is not None):
        raise RuntimeError("packed rows with attention dropout: the packed paths have none")
    if query.dtype != value.dtype:
        # bf16 autocast over fp32 weights: the projections come out in bf16, but the rotary
        # embedding multiplies queries and keys by fp32 cos and sin, which lifts them back to fp32.
        # SDPA casts its inputs down itself (it is on autocast's list); the kernels below are not,
        # and Flash's refuses fp32 (a packed run of an fp32 checkpoint on a GPU failed there).
        query, key = query.to(value.dtype), key.to(value.dtype)
    if packed_blocks is not None:
        from torch.nn.attention.flex_attention import flex_attention

        options = FLEX_TILES if query.is_cuda else None
        gqa = key.shape[1] != query.shape[1]
        out = flex_attention(query, key, value, block_mask=packed_blocks, scale=scaling, enable_gqa=gqa, kernel_options=options)
        return out.transpose(1, 2), None
    if cu_seq_lens is None:
        if attention_mask is PACKED:
            raise RuntimeError("a packed batch reached attention without its sequence boundaries")
        if attention_mask is CAUSAL:
            attention_mask = None  # transformers' SDPA call is then causal, with no mask (flash / cuDNN)
        return _sdpa()(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    if masked or not query.is_cuda or query.dtype not in (torch.float16, torch.bfloat16):
        return _masked(query, key, value, cu_seq_lens, scaling), None  # Flash computes in 16 bits only
    b, hq, s, d = query.shape
    hkv = key.shape[1]
    q = query.transpose(1, 2).reshape(b * s, hq, d)
    k = key.transpose(1, 2).reshape(b * s, hkv, d)
    v = value.transpose(1, 2).reshape(b * s, hkv, d)
    out = _flash(q, k, v, cu_seq_lens, max_length, d**-0.5 if scaling is None else scaling)[0]
    return out.reshape(b, s, hq, d), None
