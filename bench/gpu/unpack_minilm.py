"""Back to fp32 on the device (see pack_minilm.py): python bench/gpu/unpack_minilm.py <dir>"""

import sys

import torch
from safetensors.torch import load_file, save_file

path = f"{sys.argv[1]}/model.safetensors"
save_file({k: v.to(torch.float32).contiguous() for k, v in load_file(path).items()}, path)
