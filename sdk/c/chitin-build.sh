#!/usr/bin/env bash
# Builds a Chitin tool plugin written in C into a WebAssembly component.
#
#   chitin-build.sh <output.wasm> <source.c>... [-- <extra clang flags>...]
#
# Run from the plugin's directory (its build.sh does that). Installs what it needs on first use:
#   - Debian's clang, lld, wasi-libc and the wasm32 compiler-rt (apt-get; sudo when not root),
#   - chitin-c-tools (sdk/c/tools, built with cargo from its own Cargo.lock): wit-bindgen's C
#     generator and wit-component (what `wit-bindgen c` and `wasm-tools component new` run) with
#     the WASI preview1 reactor adapter of wasmtime 48 built in.
# Everything is cached in $CHITIN_C_CACHE (default: target/c-sdk of the Chitin checkout the SDK
# is in, else ~/.cache/chitin/c-sdk), so later builds take about a second.
#
# The steps: wit-bindgen's C generator writes the tool-plugin world's bindings from the WIT;
# clang compiles them, the SDK (chitin.c) and the plugin's sources into a wasm32-wasi core module
# (a "reactor": a library, no main); wit-component wraps that module into a component, adapting
# its WASI preview1 imports to WASI 0.2.
set -euo pipefail

die() { echo "chitin-build.sh: $*" >&2; exit 1; }
say() { echo "chitin-build.sh: $*" >&2; }

[ $# -ge 2 ] || die "usage: chitin-build.sh <output.wasm> <source.c>... [-- <clang flags>...]"
out=$1
shift
sources=()
cflags=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; cflags=("$@"); break; fi
  sources+=("$1"); shift
done
[ ${#sources[@]} -gt 0 ] || die "no C sources given"

sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The WIT: a copy next to the SDK (a vendored SDK), else the Chitin checkout's wit/.
if [ -n "${CHITIN_WIT_DIR:-}" ]; then
  wit=$CHITIN_WIT_DIR
elif [ -f "$sdk/wit/worlds.wit" ]; then
  wit=$sdk/wit
elif [ -f "$sdk/../../wit/worlds.wit" ]; then
  wit=$(cd "$sdk/../../wit" && pwd)
else
  die "cannot find the chitin:plugin WIT (looked in $sdk/wit and $sdk/../../wit); set CHITIN_WIT_DIR"
fi
if [ -n "${CHITIN_C_CACHE:-}" ]; then
  cache=$CHITIN_C_CACHE
elif [ -f "$sdk/../../Cargo.toml" ] && [ -d "$sdk/../../wit" ]; then
  cache=$(cd "$sdk/../.." && pwd)/target/c-sdk
else
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/chitin/c-sdk
fi
mkdir -p "$cache"
tools=$cache/tools-target/debug/chitin-c-tools

# ---- toolchain (installed once, under a lock so that parallel builds do not race) -------------

clang_resource_dir() { clang --target=wasm32-wasi -print-resource-dir 2>/dev/null || true; }

toolchain_ready() {
  command -v clang >/dev/null && command -v wasm-ld >/dev/null \
    && [ -f /usr/include/wasm32-wasi/stdlib.h ] && [ -f /usr/lib/wasm32-wasi/libc.a ] \
    && [ -f "$(clang_resource_dir)/lib/wasi/libclang_rt.builtins-wasm32.a" ]
}

install_toolchain() {
  local packages=(clang lld wasi-libc libclang-rt-dev-wasm32)
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "clang/lld/wasi-libc are missing and there is no sudo: install ${packages[*]}"
    sudo=(sudo)
  fi
  say "installing ${packages[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo[@]}" apt-get install -y -q "${packages[@]}" >&2; then
    say "apt-get install failed; updating the package lists and retrying"
    "${sudo[@]}" apt-get update -q >&2
    "${sudo[@]}" apt-get install -y -q "${packages[@]}" >&2
  fi
  toolchain_ready || die "installed ${packages[*]}, but clang still cannot build for wasm32-wasi"
}

# Built the first time (about two minutes), then a no-op check of a fraction of a second that
# also picks up changes to sdk/c/tools.
build_tools() {
  [ -x "$tools" ] || say "building chitin-c-tools (sdk/c/tools; once, about two minutes)"
  cargo build --quiet --locked --manifest-path "$sdk/tools/Cargo.toml" --target-dir "$cache/tools-target"
}

ensure_toolchain() {
  toolchain_ready || install_toolchain
  command -v cargo >/dev/null || die "cargo is needed to build sdk/c/tools: install Rust from https://rustup.rs"
  build_tools
}

if command -v flock >/dev/null; then
  exec 9>"$cache/.install.lock"
  flock 9
  ensure_toolchain
  flock -u 9
else
  ensure_toolchain
fi

# ---- build ---------------------------------------------------------------------------------

name=$(basename "$out" .wasm)
build=$cache/build/$name
rm -rf "$build"
mkdir -p "$build/bindings" "$(dirname "$out")"

"$tools" bindings "$wit" tool-plugin "$build/bindings"

# -mexec-model=reactor: a library module (exports, `_initialize`, no `main`). The shadow stack
# (C locals, in linear memory) gets 256 KiB; the host's memory budget bounds the rest.
clang --target=wasm32-wasi -mexec-model=reactor -O2 -std=c11 \
  -Wall -Wextra -Werror=implicit-function-declaration -Wno-unused-parameter \
  -I "$sdk" -I "$build/bindings" \
  "${cflags[@]}" \
  -o "$build/core.wasm" \
  "${sources[@]}" "$sdk/chitin.c" \
  "$build/bindings/tool_plugin.c" "$build/bindings/tool_plugin_component_type.o" \
  -Wl,--strip-debug -Wl,-z,stack-size=262144

"$tools" component "$build/core.wasm" "$out"
say "built $out ($(wc -c <"$out") bytes)"
