#!/usr/bin/env bash
# Packs what bench/gpu/run.sh needs on the device (which has no Node and no network) into .carry/:
# the node binary, production node_modules (linux-x64 binaries only) with dist/, the BERT
# tokenizer and the CLINC150 data. Run here after `npm run build`; then carry .carry (and .whl for
# jsonschema) in the device call. HONE_PACK_NO_ORT=1 leaves onnxruntime-node out (not needed to train
# or tune; it alone would not fit the 64 MiB a call carries). .carry/ is ignored by git (.git/info/exclude).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .carry
xz -T2 -c "$(command -v node)" > .carry/node.xz
tar -cJf .carry/runtime.tar.xz \
  --exclude='node_modules/typescript' --exclude='node_modules/@types' \
  --exclude='node_modules/better-sqlite3/deps' --exclude='node_modules/better-sqlite3/src' \
  --exclude='node_modules/better-sqlite3/build/Release/obj*' --exclude='node_modules/better-sqlite3/build/Release/.deps' \
  --exclude='node_modules/better-sqlite3/build/deps' \
  --exclude='tokenizers.android*' --exclude='tokenizers.darwin*' --exclude='tokenizers.win32*' \
  --exclude='tokenizers.linux-arm*' --exclude='tokenizers.linux-x64-musl*' \
  ${HONE_PACK_NO_ORT:+--exclude='node_modules/onnxruntime-node'} \
  node_modules dist
cp "${HONE_MODELS:-$HOME/.cache/hone/models}/all-minilm-l6-v2/tokenizer.json" .carry/
cp ../shared/data/clinc150/data_full.json .carry/
du -sh .carry/*
