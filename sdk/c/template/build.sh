#!/usr/bin/env bash
# Builds this plugin into a WebAssembly component:
#   ./build.sh [output.wasm]            (default: target/{{id}}.wasm)
#   chitin plugin pack plugin.toml target/{{id}}.wasm -o {{id}}.wasm
# The first build installs the toolchain (clang, wasi-libc, and the SDK's helper built with
# cargo; a few minutes); later ones take about a second.
set -euo pipefail
if [ $# -gt 0 ]; then out=$(realpath -m "$1"); fi
cd "$(dirname "$0")"
out=${out:-$(pwd)/target/{{id}}.wasm}

# The Chitin C SDK: $CHITIN_SDK_C, else the sdk/c of the Chitin checkout this project is in.
sdk=${CHITIN_SDK_C:-}
if [ -z "$sdk" ]; then
  dir=$(pwd)
  while [ "$dir" != / ]; do
    if [ -x "$dir/sdk/c/chitin-build.sh" ]; then sdk=$dir/sdk/c; break; fi
    if [ -x "$dir/chitin-build.sh" ]; then sdk=$dir; break; fi
    dir=$(dirname "$dir")
  done
fi
if [ -z "$sdk" ]; then
  echo "build.sh: cannot find the Chitin C SDK; set CHITIN_SDK_C to the sdk/c directory of a Chitin checkout" >&2
  exit 1
fi
exec "$sdk/chitin-build.sh" "$out" tool.c
