"""AdamW with its state in host memory (train.optimizer_offload): the GPU keeps the weights and
their gradients; the moments (8 bytes a trained parameter) and the update live on the CPU.

Each step: gradients (already clipped on the GPU) are copied into pinned host buffers, AdamW
steps there (fused CPU kernel) on a host copy of the weights, and the new weights are copied
back. The copies cost 2 x (weights + gradients) bytes over PCIe a step, the update the CPU's
memory bandwidth over 16 bytes a parameter (`bash bench/gpu/lm_real.sh 8` measures the cost).

Why not torchao's CPUOffloadOptimizer (the same idea): it copies each gradient in a backward hook,
before the loop clips the global norm, so a clipped run would step on unclipped gradients; it
runs only on CUDA (no CPU test); and its state is one optimizer per parameter, not the
checkpoint's format. This class keeps the shape of a torch optimizer: param_groups (the loop
sets their lr) and state are those of the host optimizer, in the order of the device's groups,
so checkpoint.save / restore write and read the same files as without offload, and a run can
resume with offload switched on or off.
"""

import torch


class HostAdamW:
    def __init__(self, groups: list[dict], **adamw):
        self.cuda = cuda = any(p.is_cuda for g in groups for p in g["params"])
        # (device parameter, its host copy, the host buffer its gradient is copied into)
        self.pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        host_groups = []
        for g in groups:
            hosts = []
            for p in g["params"]:
                h = torch.empty(p.shape, dtype=p.dtype, device="cpu", pin_memory=cuda)
                self.pairs.append((p, h, torch.empty_like(h, pin_memory=cuda)))
                hosts.append(h)
            host_groups.append({**g, "params": hosts})
        self.host = torch.optim.AdamW(host_groups, **adamw, fused=True)
        # The host copies of the weights are taken at the first step, after a resumed run has
        # loaded its checkpoint's weights into the model; from then on the host's are the master.
        self.copied = False

    @property
    def param_groups(self) -> list[dict]:
        return self.host.param_groups

    @property
    def state(self):
        return self.host.state

    @property
    def defaults(self) -> dict:
        return self.host.defaults

    @torch.no_grad()
    def step(self):
        if not self.copied:
            for p, h, _ in self.pairs:
                h.copy_(p.detach(), non_blocking=True)
            self.copied = True
        for p, h, g in self.pairs:
            h.grad = None if p.grad is None else g.copy_(p.grad, non_blocking=True)
        if self.cuda:
            torch.cuda.synchronize()  # the host reads the gradients next
        self.host.step()  # a parameter without a gradient is left as it is, as on the GPU
        for p, h, _ in self.pairs:
            p.copy_(h, non_blocking=True)  # the next forward pass is queued after these copies

    def zero_grad(self, set_to_none: bool = True):
        for p, _, _ in self.pairs:
            p.grad = None
