"""LoRA layers as one matmul: y = [x | s·xA] @ [W | B]^T instead of peft's x @ W^T + s·(x @ A^T) @ B^T.

peft computes the adapter's product beside the frozen one and adds it: the [tokens, out] product
is written, read back and added, and in the backward pass the output gradient is read once more
for d(xA) = dy @ B. Those side paths are memory-bound; on the 1.2B Llama benchmark they cost ~16%
of the LoRA step (bench/gpu/lm_speed.py, hone_lora_bound). Appending s·xA to the input and B to the
frozen weight (r = 16 more columns of K) folds the product into the frozen matmul, and its
backward gives dx and d(xA) from one matmul as well.

Used for plain LoRA layers (one active adapter, no dropout, no DoRA, no bias); anything else, or
an adapter switched off (DPO's reference), runs peft's own forward.
"""
import types

import torch


class _LoraMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, a, b, scale: float):
        xa = x @ a.t()
        y = torch.cat([x, xa * scale], -1) @ torch.cat([weight, b], -1).t()
        ctx.save_for_backward(x, xa, weight, a, b)
        ctx.scale = scale
        return y

    @staticmethod
    def backward(ctx, dy):
        x, xa, weight, a, b = ctx.saved_tensors
        s = ctx.scale
        n_in, r = weight.shape[1], a.shape[0]
        dx_cat = dy @ torch.cat([weight, b], -1)  # [..., in + r]: the frozen path's dx and d(xA) together
        dxa = dx_cat[..., n_in:] * s
        dx = dx_cat[..., :n_in] + dxa @ a
        da = dxa.reshape(-1, r).t() @ x.reshape(-1, n_in)
        db = dy.reshape(-1, dy.shape[-1]).t() @ (xa.reshape(-1, r) * s)
        return dx, None, da, db, None


def lora_matmul(x, weight, a, b, scale: float):
    # Under autocast the matmuls run in the activations' dtype; the adapter's fp32 weights enter
    # cast (their gradients flow back through the cast in fp32, as with peft under autocast).
    dt = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
    return _LoraMatmul.apply(x.to(dt), weight.to(dt), a.to(dt), b.to(dt), scale)


def _forward(self, x, *args, **kwargs):
    names = self.active_adapters
    name = names[0] if len(names) == 1 else None
    plain = (
        name is not None and not self.disable_adapters and not self.merged and not args and not kwargs
        and self.base_layer.bias is None and not self.use_dora.get(name, False)
        and isinstance(self.lora_dropout[name], torch.nn.Identity) and name in self.lora_A
    )
    if not plain:
        return type(self).forward(self, x, *args, **kwargs)
    return lora_matmul(x, self.base_layer.weight, self.lora_A[name].weight, self.lora_B[name].weight, self.scaling[name])


def fuse(model) -> int:
    """Give every peft LoRA Linear of the model the one-matmul forward; returns how many."""
    from peft.tuners.lora import Linear

    n = 0
    for m in model.modules():
        if type(m) is Linear:
            m.forward = types.MethodType(_forward, m)
            n += 1
    return n
