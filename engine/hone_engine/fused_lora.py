"""LoRA layers as one matmul: y = [x | s·xA] @ [W | B]^T instead of peft's x @ W^T + s·(x @ A^T) @ B^T.

peft computes the adapter's product beside the frozen one and adds it: the [tokens, out] product
is written, read back and added, and in the backward pass the output gradient is read once more
for d(xA) = dy @ B. Those side paths are memory-bound; on the 1.2B Llama benchmark they cost ~16%
of the LoRA step (bench/gpu/lm_speed.py, hone_lora_bound). Appending s·xA to the input and B to the
frozen weight (r = 16 more columns of K) folds the product into the frozen matmul, and its
backward gives dx and d(xA) from one matmul as well. A layer whose input is wider than its
output (down_proj) adds the adapter's product to the output through the frozen matmul's addmm
instead: appending to its input would copy ~4x the bytes.

Projections that read the same input (q/k/v of an attention block, gate/up of an MLP) go further:
one matmul for the group, its weight [[Wq Bq 0 0] [Wk 0 Bk 0] [Wv 0 0 Bv]], so three thin
products become one wide one (bench/gpu/kernels_probe.py times both). The first member computes
the group's output when it is called and hands each other member its slice when that member is
called with the same input tensor; a member called otherwise computes its own.

Used for plain LoRA layers (one active adapter, no dropout, no DoRA, no bias); anything else, or
an adapter switched off (DPO's reference), runs peft's own forward.
"""

import types

import torch

# Children of one module that the model calls on one input, in the order it calls them.
GROUPS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


class _GroupMatmul(torch.autograd.Function):
    """y_1..n = [x | xA·s] @ W_big^T for n adapters, A = [A_1; ...; A_n] and
    W_big = [W_1..n stacked | blockdiag(B_1..n)]: one matmul forward; each member's output apart.

    The outputs leave as separate tensors so that their gradients arrive apart: had one output
    been split by the caller, autograd would concatenate the gradients, and torch.compile fuses
    that concatenation into the kernels producing them (SiLU's backward wrote dgate|dup reading
    gate and up twice: 11.5 instead of 5.9 ms a step on the benchmark)."""

    @staticmethod
    def forward(ctx, x, scales, *params):
        weights, a_s, b_s, a, s = _unpack(x, scales, params)
        xa = x @ a.t()
        if len(weights) == 1 and x.shape[-1] > weights[0].shape[0]:
            # A wide input (down_proj: 8192 in, 2048 out): appending xA would copy the whole input
            # (~4x the bytes of the output), so the adapter's product is added to the output instead,
            # by the frozen matmul itself (addmm's beta = 1).
            flat = x.reshape(-1, x.shape[-1])
            y = torch.addmm((xa * s).reshape(-1, xa.shape[-1]) @ b_s[0].t(), flat, weights[0].t()).reshape(*x.shape[:-1], -1)
        else:
            y = torch.cat([x, xa * s], -1) @ _big_weight(weights, b_s).t()
        ctx.save_for_backward(x, xa, *params)
        ctx.scales = scales
        return y if len(weights) == 1 else tuple(y.split([w.shape[0] for w in weights], -1))

    @staticmethod
    def backward(ctx, *dys):
        x, xa, *params = ctx.saved_tensors
        scales = ctx.scales
        weights, a_s, b_s, a, s = _unpack(x, scales, params)
        n_in, flat = x.shape[-1], lambda t: t.reshape(-1, t.shape[-1])
        # [..., in + ranks]: the frozen path's dx and every d(xA) together, summed over the members
        dx_cat = None
        for i, (dy, w, b) in enumerate(zip(dys, weights, b_s)):
            if dy is not None:
                part = dy @ _member_weight(w, b, a_s, i)
                dx_cat = part if dx_cat is None else dx_cat + part
        dxa = dx_cat[..., n_in:] * s
        dx = dx_cat[..., :n_in] + dxa @ a
        da = flat(dxa).t() @ flat(x)
        da_s, db_s, col = [], [], 0
        for dy, t, sc in zip(dys, a_s, scales):
            r = t.shape[0]
            da_s.append(da[col : col + r])
            db_s.append(None if dy is None else flat(dy).t() @ (flat(xa)[:, col : col + r] * sc))
            col += r
        return (dx, None, *([None] * len(weights)), *da_s, *db_s)


def _unpack(x, scales, params):
    """(weights, As, Bs) of the members, all their A as one matrix, and the scale of each of its rows."""
    n = len(scales)
    weights, a_s, b_s = params[:n], params[n : 2 * n], params[2 * n :]
    if n == 1:
        return weights, a_s, b_s, a_s[0], scales[0]
    return weights, a_s, b_s, torch.cat(a_s), torch.cat([x.new_full((t.shape[0],), sc) for t, sc in zip(a_s, scales)])


def _big_weight(weights, b_s):
    """W_big = [W_1..n stacked | blockdiag(B_1..n)], built from whole blocks rather than from each
    member's rows: the backward builds member rows ([W_i | 0 B_i 0]), and had the forward built the
    same rows, torch.compile would merge the two and keep the forward's copies alive for the
    backward (6 frozen-weight copies a layer: 9.65 GiB at 8B, bench/results/lm-8b-memory-h100.json)."""
    stacked = torch.cat(weights) if len(weights) > 1 else weights[0]
    return torch.cat([stacked, torch.block_diag(*b_s)], -1)


def _member_weight(w, b, a_s, i):
    """Member i's rows of W_big: [W_i | 0 | B_i | 0], its B under its own columns of xA."""
    before = sum(t.shape[0] for t in a_s[:i])
    after = sum(t.shape[0] for t in a_s[i + 1 :])
    parts = [w] + ([b.new_zeros(b.shape[0], before)] if before else []) + [b] + ([b.new_zeros(b.shape[0], after)] if after else [])
    return torch.cat(parts, -1)


def group_matmul(x, weights, a_s, b_s, scales):
    """The group's outputs: one tensor for one member, else a tuple. Under autocast the matmuls run in
    the activations' dtype; the adapters' fp32 weights enter cast (their gradients flow back
    through the cast in fp32, as with peft under autocast)."""
    dt = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
    return _GroupMatmul.apply(x.to(dt), tuple(scales), *(t.to(dt) for t in (*weights, *a_s, *b_s)))


def lora_matmul(x, weight, a, b, scale: float):
    return group_matmul(x, [weight], [a], [b], [scale])


def _plain(layer) -> str | None:
    """The active adapter's name if the layer can take the one-matmul path, else None."""
    names = layer.active_adapters
    name = names[0] if len(names) == 1 else None
    ok = (
        name is not None
        and not layer.disable_adapters
        and not layer.merged
        and layer.base_layer.bias is None
        and not layer.use_dora.get(name, False)
        and name in layer.lora_A
        and isinstance(layer.lora_dropout[name], torch.nn.Identity)
    )
    return name if ok else None


class _Group:
    def __init__(self, members):
        self.members = members
        self.input = None  # the tensor the pending slices were computed from
        self.pending = {}  # member index -> its slice of the group's output


def _forward(self, x, *args, **kwargs):
    name = _plain(self) if not args and not kwargs else None
    if name is None:
        return type(self).forward(self, x, *args, **kwargs)
    group, index = self._hone_group
    if group is not None and index > 0:
        if group.input is x and index in group.pending:
            out = group.pending.pop(index)
            if not group.pending:
                group.input = None
            return out
    elif group is not None:
        names = [_plain(m) for m in group.members]
        if all(n == name for n in names):
            outs = group_matmul(
                x,
                [m.base_layer.weight for m in group.members],
                [m.lora_A[name].weight for m in group.members],
                [m.lora_B[name].weight for m in group.members],
                [m.scaling[name] for m in group.members],
            )
            group.input, group.pending = x, dict(enumerate(outs[1:], start=1))
            return outs[0]
    return lora_matmul(x, self.base_layer.weight, self.lora_A[name].weight, self.lora_B[name].weight, self.scaling[name])


def fuse(model) -> tuple:
    """Give every peft LoRA Linear of the model the one-matmul forward; returns (layers, groups)."""
    from peft.tuners.lora import Linear

    layers = groups = 0
    for parent in model.modules():
        for names in GROUPS:
            members = [getattr(parent, n, None) for n in names]
            if all(type(m) is Linear for m in members) and len({m.base_layer.weight.shape[1] for m in members}) == 1:
                group = _Group(members)
                for i, m in enumerate(members):
                    m._hone_group = (group, i)
                groups += 1
    for m in model.modules():
        if type(m) is Linear:
            if not hasattr(m, "_hone_group"):
                m._hone_group = (None, 0)
            m.forward = types.MethodType(_forward, m)
            layers += 1
    return layers, groups
