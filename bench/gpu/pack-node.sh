#!/usr/bin/env bash
# What every device benchmark that runs the real CLI carries, packed here after `npm run build`:
#   .carry/hone-node.tar.xz  node (stripped), dist without tests, production node_modules without
#                            ONNX Runtime or llama.cpp (not needed to train) and other platforms' binaries
#   .carry/whl               jsonschema wheels (the engine checks jobs against the schema; no network there)
# A device call carries 64 MiB in all, the repository included: every MiB here counts.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=$(mktemp -d)
mkdir -p .carry/whl $T/hone
cp "$(command -v node)" $T/hone/node && strip $T/hone/node
tar -cf - --exclude="*.test.js" --exclude="*.d.ts" --exclude="*.map" dist | tar -xf - -C $T/hone
tar -cf - --exclude='node_modules/typescript' --exclude='node_modules/@types' --exclude='node_modules/@biomejs' \
  --exclude='node_modules/onnxruntime-*' --exclude='node_modules/node-llama-cpp' --exclude='node_modules/@node-llama-cpp' \
  --exclude='node_modules/better-sqlite3/deps' --exclude='node_modules/better-sqlite3/src' --exclude='node_modules/better-sqlite3/build/deps' \
  --exclude='node_modules/better-sqlite3/build/Release/obj*' --exclude='node_modules/better-sqlite3/build/Release/.deps' \
  --exclude='node_modules/better-sqlite3/build/Release/*.a' --exclude='node_modules/better-sqlite3/build/Release/test_extension.node' \
  --exclude='tokenizers.android*' --exclude='tokenizers.darwin*' --exclude='tokenizers.win32*' --exclude='tokenizers.linux-arm*' \
  --exclude='tokenizers.linux-x64-musl*' --exclude='*.d.ts' --exclude='*.d.cts' --exclude='*.d.mts' --exclude='*.map' --exclude='*.md' \
  --exclude='node_modules/zod/src' node_modules | tar -xf - -C $T/hone
tar -cf - -C $T hone | xz -T2 -9 > .carry/hone-node.tar.xz
# The device's Python (3.12 today) and its neighbours; pure-Python wheels but rpds-py.
for v in 3.11 3.12 3.13; do
  python3 -m pip download -q --only-binary=:all: --python-version $v --platform manylinux2014_x86_64 -d .carry/whl jsonschema
done
rm -rf $T
