#!/usr/bin/env bash
# Builds a Python plugin directory (plugin.toml + app.py) into a WebAssembly component.
#
#   sdk/python/build-plugin.sh <plugin-dir> <output.wasm>
#
# A plugin's own build.sh calls this (./dev build-plugins then packs the output with the
# manifest). It installs the pinned toolchain (toolchain.txt) into target/sdk-venv on first use,
# builds against the chitin:plugin WIT version the manifest names (wit/ or wit/v<version>/),
# refuses a component that imports wasi:http (the host would refuse to load it), and skips the
# build when nothing it depends on changed since the last one.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <plugin-dir> <output.wasm>" >&2
  exit 2
fi
SDK=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$SDK/../.." && pwd)
PLUGIN=$(cd "$1" && pwd)
OUT=$2
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac

die() { echo "build-plugin.sh: $*" >&2; exit 1; }

manifest_field() { sed -n "s/^$1 *= *\"\(.*\)\"/\1/p" "$PLUGIN/plugin.toml" | head -1; }

[ -f "$PLUGIN/plugin.toml" ] || die "$PLUGIN has no plugin.toml"
[ -f "$PLUGIN/app.py" ] || die "$PLUGIN has no app.py (the module componentize-py wraps)"
ID=$(manifest_field id)
KIND=$(manifest_field kind)
WIT_VERSION=$(manifest_field wit_version)
[ -n "$ID" ] && [ -n "$KIND" ] && [ -n "$WIT_VERSION" ] ||
  die "$PLUGIN/plugin.toml needs id, kind and wit_version"

# The WIT of the version the manifest names: the current one in wit/, older ones in wit/v<x>/.
WIT=""
for dir in "$ROOT/wit" "$ROOT/wit/v$WIT_VERSION"; do
  if grep -qs "^package chitin:plugin@$WIT_VERSION;" "$dir/worlds.wit"; then WIT=$dir; break; fi
done
[ -n "$WIT" ] || die "no WIT for chitin:plugin@$WIT_VERSION (wit_version in $PLUGIN/plugin.toml) in $ROOT/wit"
WORLD="$KIND-plugin"

# One build at a time per checkout (several `./dev build-plugins` may run at once): they share
# the toolchain and the staging directories.
mkdir -p "$ROOT/target"
if command -v flock >/dev/null; then
  exec 9>"$ROOT/target/sdk-python-build.lock"
  flock 9
fi

# The toolchain, re-created when toolchain.txt changes.
VENV=$ROOT/target/sdk-venv
if ! cmp -s "$SDK/toolchain.txt" "$VENV/toolchain.txt"; then
  echo "installing the Python plugin toolchain into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$SDK/toolchain.txt"
  cp "$SDK/toolchain.txt" "$VENV/toolchain.txt"
fi

# Everything the component is made from; an unchanged digest means the last build still holds.
inputs() {
  (
    cd "$PLUGIN"
    find . -type f \( -name '*.py' -o -name 'plugin.toml' \) -not -path '*/__pycache__/*' \
      -not -path './build/*' | LC_ALL=C sort | xargs sha256sum
    cd "$SDK"
    sha256sum toolchain.txt build-plugin.sh
    find src -type f -name '*.py' | LC_ALL=C sort | xargs sha256sum
    cd "$WIT"
    find . -maxdepth 1 -name '*.wit' | LC_ALL=C sort | xargs sha256sum
  ) | sha256sum | cut -d' ' -f1
}
DIGEST=$(inputs)
if [ -f "$OUT" ] && [ "$(cat "$OUT.inputs" 2>/dev/null)" = "$DIGEST" ]; then
  echo "$ID is up to date ($OUT)" >&2
  exit 0
fi

# Only the plugin's Python sources and the SDK go into the component: stage them in a clean
# directory (componentize-py looks for modules on the paths it is given).
STAGE=$ROOT/target/sdk-build/python/$ID
rm -rf "$STAGE"
mkdir -p "$STAGE/src" "$(dirname "$OUT")"
(cd "$PLUGIN" && find . -type f -name '*.py' -not -path '*/__pycache__/*' -not -path './build/*' \
  -exec cp --parents {} "$STAGE/src/" \;)

echo "componentize-py: $ID ($WORLD, chitin:plugin@$WIT_VERSION)" >&2
(cd "$STAGE" && "$VENV/bin/componentize-py" --quiet -d "$WIT" -w "$WORLD" componentize app \
  -p "$STAGE/src" -p "$SDK/src" -o "$STAGE/component.wasm")

# The host links no wasi:http (all egress goes through chitin:plugin/http): refuse it here,
# with the reason, rather than at load time.
"$VENV/bin/wasm-tools" component wit "$STAGE/component.wasm" >"$STAGE/component.wit"
if grep -q 'import wasi:http/' "$STAGE/component.wit"; then
  die "$ID imports wasi:http, which Chitin refuses; make requests with chitin_sdk.http instead (see $STAGE/component.wit)"
fi

mv "$STAGE/component.wasm" "$OUT"
echo "$DIGEST" >"$OUT.inputs"
echo "built $OUT ($(stat -c %s "$OUT") bytes)" >&2
