#!/usr/bin/env bash
# ./build.sh <output.wasm>: builds this plugin into a component (`./dev build-plugins` runs it).
set -euo pipefail
out=$(realpath -m "${1:?usage: ./build.sh <output.wasm>}")
cd "$(dirname "$0")"
exec ../../chitin-build.sh "$out" spin.c
