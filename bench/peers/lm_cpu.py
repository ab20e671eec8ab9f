"""The PyTorch side of bench/edge.mjs: a merged generative model on the CPU at batch 1, greedy, with
a KV cache, the loop written out (prefill, then one token at a time: what HF generate does, without
its per-step bookkeeping); and the test loss of the run's test shard, for the PyTorch model or a GGUF
file read back by transformers (its weights dequantized: the file's numbers, PyTorch's arithmetic).

  python bench/peers/lm_cpu.py --model DIR [--gguf FILE] --dtype fp32|bf16 --prompts prompts.json
      [--test tokens.u32 offsets.u32 mask.u8] --max-new-tokens N --stop 2 --threads 2
prompts.json: {"prompts": [[ids...], ...]}. Prints one JSON line.
"""

import argparse
import json
import time

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM


def generate(model, ids, max_new, stop):
    """Greedy decoding; (new ids, seconds to the first new token, seconds for the rest)."""
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model(torch.tensor([ids]), use_cache=True)
        cache, token = out.cache, int(out.logits[0, -1].argmax())
        first = time.perf_counter() - t0
        new = [token]
        t1 = time.perf_counter()
        while token not in stop and len(new) < max_new:
            out = model(torch.tensor([[token]]), cache=cache, use_cache=True)
            cache, token = out.cache, int(out.logits[0, -1].argmax())
            new.append(token)
    return new, first, time.perf_counter() - t1


def test_loss(model, tokens, offsets, mask):
    """Summed next-token loss over the learnt tokens of every test sequence, and their count."""
    nll, n = 0.0, 0
    with torch.inference_mode():
        for i in range(len(offsets) - 1):
            ids = torch.from_numpy(tokens[offsets[i] : offsets[i + 1]].astype(np.int64))[None]
            learnt = torch.from_numpy(mask[offsets[i] + 1 : offsets[i + 1]].astype(bool))
            logits = model(ids).logits[0, :-1].float()
            lp = torch.log_softmax(logits, -1).gather(1, ids[0, 1:, None])[:, 0]
            nll -= float(lp[learnt].sum())
            n += int(learnt.sum())
    return nll, n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--gguf")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--prompts")
    p.add_argument("--test", nargs=3)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--stop", type=int, nargs="+", default=[])
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    kw = {"gguf_file": a.gguf} if a.gguf else {}
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype, **kw).eval()
    out = {"torch": torch.__version__, "transformers": transformers.__version__, "dtype": a.dtype, "threads": a.threads}
    if a.prompts:
        prompts = json.load(open(a.prompts))["prompts"]
        generate(model, prompts[0], 4, set(a.stop))  # warm-up: first-call allocations
        rows = []
        for ids in prompts:
            new, first, rest = generate(model, ids, a.max_new_tokens, set(a.stop))
            rows.append({"prompt_tokens": len(ids), "new": new, "first_s": first, "rest_s": rest})
        out["generations"] = rows
    if a.test:
        tokens = np.fromfile(a.test[0], dtype="<u4")
        offsets = np.fromfile(a.test[1], dtype="<u4").astype(np.int64)
        mask = np.fromfile(a.test[2], dtype=np.uint8)
        out["test_nll"], out["test_tokens"] = test_loss(model, tokens, offsets, mask)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
