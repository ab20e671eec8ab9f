"""The hash of a model folder's weights, tensor by tensor (name, dtype, shape, bytes, in name
order): the writer converted on the device from its GGUF must be the very model converted here.
python bench/gpu/writer_hash.py <model dir>"""

import hashlib
import sys

import torch
from safetensors import safe_open

h = hashlib.sha256()
with safe_open(f"{sys.argv[1]}/model.safetensors", "pt") as f:
    for name in sorted(f.keys()):
        t = f.get_tensor(name).contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(dtype=torch.uint8).numpy().tobytes())
print(h.hexdigest())
