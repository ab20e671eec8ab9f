"""The Triton log-softmax kernel (hone_engine.fused_ce) against the plain expression in lm/logp.py.

Needs triton: on a GPU machine it runs there; on a CPU with triton installed it runs in
Triton's interpreter (TRITON_INTERPRET=1, in a fresh process: the flag is read when triton
loads, and transformers loads it). CPU torch wheels ship without triton: skipped.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def check(dev: str) -> None:
    from hone_engine import fused_ce
    from hone_engine.lm import logp as lm_logp

    torch.manual_seed(0)
    # A vocabulary that is not a multiple of the block, more rows than programs, a target in the last block.
    rows, vocab, block = 7, 1000, 256
    logits = (torch.randn(rows, vocab, device=dev) * 3).to(torch.bfloat16)
    targets = torch.randint(0, vocab, (rows,), device=dev)
    targets[0] = vocab - 1
    ref_logp, ref_grad = lm_logp._logp_and_grad(logits, targets)
    work = logits.clone()
    logp = torch.empty(rows, device=dev)
    fused_ce._logp_grad_rows[(3,)](work, targets, logp, rows, vocab, work.stride(0), BLOCK=block)
    assert torch.allclose(logp, ref_logp, atol=1e-5), (logp - ref_logp).abs().max()
    # The gradient replaced the logits; bf16 rounding of 1 - p may differ by one unit (2^-8).
    assert (work.float() - ref_grad.float()).abs().max().item() <= 2**-8
    assert torch.allclose(work.float().sum(-1), torch.zeros(rows, device=dev), atol=0.05)  # onehot - softmax sums to 0


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="no triton (CPU torch wheels ship without it)")
def test_logp_and_gradient_match_the_plain_expression_and_overwrite_the_logits():
    if torch.cuda.is_available():
        check("cuda")
        return
    here = Path(__file__).resolve().parent
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": os.pathsep.join([str(here), str(here.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", "import test_fused_ce; test_fused_ce.check('cpu')"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
