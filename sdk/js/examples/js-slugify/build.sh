#!/usr/bin/env bash
# Builds this plugin into a WebAssembly component at $1 (default: build/plugin.wasm).
# `./dev build-plugins` runs it and packs the result with plugin.toml into target/plugins/.
# The work is done by the JavaScript SDK's build-plugin.sh, found in the Chitin checkout this
# directory is in, or at $CHITIN_ROOT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=${CHITIN_ROOT:-}
if [ -z "$root" ]; then
  dir=$here
  while [ "$dir" != / ]; do
    if [ -x "$dir/sdk/js/build-plugin.sh" ]; then root=$dir; break; fi
    dir=$(dirname "$dir")
  done
fi
if [ -z "$root" ]; then
  echo "build.sh: no Chitin checkout above $here; set CHITIN_ROOT to one" >&2
  exit 1
fi
exec "$root/sdk/js/build-plugin.sh" "$here" "${1:-$here/build/plugin.wasm}"
