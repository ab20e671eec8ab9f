"""Peer of bench/deploy.mjs: Python onnxruntime on the same bundle, the same token shard and the
same batching (longest first, fixed batch size, same thread count). Prints JSON: texts/s.
    python bench/peers/ort_python.py <bundle> <tokens.u32> <offsets.u32> <batch> <threads> <repeats>
"""

import json
import sys
import time

import numpy as np
import onnxruntime as ort

bundle, tokens_path, offsets_path = sys.argv[1:4]
batch, threads, repeats = (int(x) for x in sys.argv[4:7])
pad = json.load(open(f"{bundle}/bundle.json"))["pad_token_id"]
tokens = np.fromfile(tokens_path, dtype="<u4").astype(np.int64)
offsets = np.fromfile(offsets_path, dtype="<u4")
seqs = [tokens[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
opts = ort.SessionOptions()
opts.intra_op_num_threads = threads
opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
session = ort.InferenceSession(f"{bundle}/model.onnx", opts, providers=["CPUExecutionProvider"])
order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))


def one_pass():
    for s in range(0, len(order), batch):
        idx = order[s : s + batch]
        T = len(seqs[idx[0]])
        ids = np.full((len(idx), T), pad, dtype=np.int64)
        mask = np.zeros((len(idx), T), dtype=np.int64)
        for row, i in enumerate(idx):
            ids[row, : len(seqs[i])] = seqs[i]
            mask[row, : len(seqs[i])] = 1
        session.run(None, {"input_ids": ids, "attention_mask": mask})


one_pass()  # warm-up
rates = []
for _ in range(repeats):
    t0 = time.perf_counter()
    one_pass()
    rates.append(len(seqs) / (time.perf_counter() - t0))
print(json.dumps({"texts_per_s": sorted(rates)[len(rates) // 2], "all": rates, "onnxruntime": ort.__version__}))
