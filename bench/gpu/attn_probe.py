"""Attention at the benchmark's shape (device): which SDPA call transformers makes (eager and under
torch.compile), and how long each kernel choice takes forward + backward. Prints a table.
  python3 bench/gpu/attn_probe.py
"""

import inspect
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "engine"))

B, HQ, HKV, S, D = 8, 32, 8, 2048, 64
dev, dt = "cuda", torch.bfloat16

# ---- what transformers calls ----
seen = []
real_sdpa = F.scaled_dot_product_attention


def spy(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    seen.append(
        dict(
            q=tuple(q.shape),
            k=tuple(k.shape),
            mask=None if attn_mask is None else (tuple(attn_mask.shape), str(attn_mask.dtype)),
            is_causal=is_causal,
            enable_gqa=enable_gqa,
        )
    )
    return real_sdpa(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale, enable_gqa=enable_gqa)


from transformers import LlamaConfig, LlamaModel  # noqa: E402

cfg = LlamaConfig(
    hidden_size=2048, intermediate_size=8192, num_hidden_layers=1, num_attention_heads=32, num_key_value_heads=8, vocab_size=1000, attn_implementation="sdpa"
)
m = LlamaModel(cfg).to(dev, dt)
ids = torch.randint(0, 1000, (B, S), device=dev)
F.scaled_dot_product_attention = spy
with torch.no_grad():
    m(input_ids=ids)
    print("eager, no position_ids:", seen[-1])
    m(input_ids=ids, position_ids=torch.arange(S, device=dev)[None].expand(B, S))
    print("eager, position_ids:   ", seen[-1])
    mc = torch.compile(m)
    mc(input_ids=ids)
    print("compiled, no position_ids:", seen[-1])
F.scaled_dot_product_attention = real_sdpa
del m, mc

# ---- kernels ----
q = torch.randn(B, HQ, S, D, device=dev, dtype=dt, requires_grad=True)
k = torch.randn(B, HKV, S, D, device=dev, dtype=dt, requires_grad=True)
v = torch.randn(B, HKV, S, D, device=dev, dtype=dt, requires_grad=True)
g = torch.randn(B, HQ, S, D, device=dev, dtype=dt)
causal_mask = torch.ones(S, S, device=dev, dtype=torch.bool).tril()


def timed(fn, n=10):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    t = time.time()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return (time.time() - t) / n * 1000


def sdpa(backend=None, mask=False, gqa=True):
    def f():
        kk, vv = (k, v) if gqa else (k.repeat_interleave(HQ // HKV, 1), v.repeat_interleave(HQ // HKV, 1))
        ctx = sdpa_kernel([backend]) if backend else torch.enable_grad()
        with ctx:
            o = F.scaled_dot_product_attention(q, kk, vv, attn_mask=causal_mask if mask else None, is_causal=not mask, enable_gqa=gqa)
        o.backward(g)

    return f


rows = []
for name, fn in [
    ("sdpa is_causal, gqa, default choice", sdpa()),
    ("sdpa is_causal, gqa, FLASH", sdpa(SDPBackend.FLASH_ATTENTION)),
    ("sdpa is_causal, gqa, CUDNN", sdpa(SDPBackend.CUDNN_ATTENTION)),
    ("sdpa is_causal, gqa, EFFICIENT", sdpa(SDPBackend.EFFICIENT_ATTENTION)),
    ("sdpa is_causal, kv repeated, FLASH", sdpa(SDPBackend.FLASH_ATTENTION, gqa=False)),
    ("sdpa is_causal, kv repeated, CUDNN", sdpa(SDPBackend.CUDNN_ATTENTION, gqa=False)),
    ("sdpa dense causal mask, default choice", sdpa(mask=True)),
]:
    try:
        rows.append((name, timed(fn)))
    except Exception as e:  # a backend that refuses this shape
        rows.append((name, f"refused: {str(e).splitlines()[0][:80]}"))

try:
    from torch.nn.attention.varlen import varlen_attn

    params = inspect.signature(varlen_attn).parameters
    qv = q.detach().transpose(1, 2).reshape(B * S, HQ, D).contiguous().requires_grad_()
    kr = k.detach().repeat_interleave(HQ // HKV, 1).transpose(1, 2).reshape(B * S, HQ, D).contiguous().requires_grad_()
    vr = v.detach().repeat_interleave(HQ // HKV, 1).transpose(1, 2).reshape(B * S, HQ, D).contiguous().requires_grad_()
    cu = torch.arange(0, B * S + 1, S, device=dev, dtype=torch.int32)
    kw = {"is_causal": True} if "is_causal" in params else {"window_size": (-1, 0)}
    gv = g.transpose(1, 2).reshape(B * S, HQ, D)

    def vl():
        varlen_attn(qv, kr, vr, cu, cu, S, S, **kw).backward(gv)

    rows.append((f"varlen_attn ({', '.join(params)})"[:120], timed(vl)))
except Exception as e:
    rows.append(("varlen_attn", f"unavailable: {str(e).splitlines()[0][:80]}"))

flops = 4 * B * HQ * S * S * D / 2 * 3.5  # causal: half the scores; forward 1 + backward 2.5
print(f"\nattention forward + backward, B={B} Hq={HQ} Hkv={HKV} S={S} D={D}, bf16, one layer")
print("| call | ms | TFLOP/s (causal) |")
print("|---|---:|---:|")
for name, ms in rows:
    print(f"| {name} | {ms if isinstance(ms, str) else f'{ms:.2f}'} | {'' if isinstance(ms, str) else f'{flops / ms / 1e9:.0f}'} |")
