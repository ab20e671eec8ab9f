#!/usr/bin/env bash
# The peers #23's device calls need, for the device's Python 3.12 (it has no network and no pip
# index): wheels downloaded here, unpacked, xz'd into .carry/ (lm_real.sh puts each on PYTHONPATH).
#   js.tar.xz     jsonschema and its dependencies (the engine checks jobs against the schema)
#   peers.tar.xz  Unsloth 2026.10.9 and what it imports that the device lacks (its web UI, CLI,
#                 diffusers and hf_transfer left out: ~30 MB of a 64 MiB carry); torch, transformers, peft, numpy, pandas and
#                 pyarrow are the device's own
#   liger.tar.xz  liger-kernel (the HF + Liger peer)
#   bnb.tar.xz    bitsandbytes (QLoRA) with its CUDA 13 and CPU libraries only
# Versions are those `pip install --dry-run --python-version 3.12 unsloth==2026.10.9` resolved on
# 2026-12-05. Usage: bash bench/gpu/pack-peers.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
W=$(mktemp -d)
PLAT="--platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any"
get() { # folder, requirements...
  local d=$W/$1
  shift
  mkdir -p $d/whl $d/site
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 $PLAT -d $d/whl "$@" 2>&1 | grep -v "is ignored" || true
  for w in $d/whl/*.whl; do python3 -m zipfile -e "$w" $d/site; done
}
get js jsonschema==4.26.0 jsonschema-specifications attrs referencing rpds-py typing_extensions
get peers unsloth==2026.10.9 unsloth_zoo==2026.10.9 trl==1.15.0 datasets==4.8.5 accelerate==1.16.0 torchao==0.18.0 \
  tyro==1.0.17 cut-cross-entropy==25.1.1 xxhash==4.1.0 msgspec==0.23.0 sentencepiece==0.2.3 typeguard==4.6.1 \
  docstring_parser==0.18.0 shellingham==1.5.4 typer==0.29.2 hf_transfer==0.1.9 diffusers==0.42.1 dill==0.4.1 \
  multiprocess==0.70.19 json5==0.17.3 structlog==26.1.0 nest-asyncio==1.6.0 lazy-importer==0.1.0 einops==0.8.2 \
  rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2 Pygments==2.21.0 annotated-doc==0.0.7 click==8.5.1
# Not imported to train: Unsloth's web UI (82 MB) and command line, diffusers (image models), hf_transfer (downloads).
rm -rf $W/peers/site/{studio,unsloth_cli,diffusers,hf_transfer}
get liger liger-kernel
get bnb bitsandbytes==0.50.2
find $W/bnb/site/bitsandbytes -name 'libbitsandbytes_*' ! -name '*cuda130*' ! -name '*cpu*' -delete
mkdir -p .carry
for p in js peers liger bnb; do
  find $W/$p/site -name '__pycache__' -prune -exec rm -rf {} +
  tar -cf - -C $W/$p/site . | xz -T2 -9 > .carry/$p.tar.xz
done
rm -rf $W
du -sh .carry/{js,peers,liger,bnb}.tar.xz
