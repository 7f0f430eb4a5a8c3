#!/usr/bin/env bash
# Builds a JavaScript plugin directory (plugin.toml + app.js) into a WebAssembly component.
#
#   sdk/js/build-plugin.sh <plugin-dir> <output.wasm>
#
# A plugin's own build.sh calls this (./dev build-plugins then packs the output with the
# manifest). It installs the pinned toolchain (package.json + package-lock.json: componentize-js
# and the rolldown bundler) into target/sdk-node with npm on first use, bundles app.js with
# the SDK, and builds against the chitin:plugin WIT version the manifest names (wit/ or
# wit/v<version>/), with componentize-js's WASI http and fetch-event features disabled: the host
# links no wasi:http. It skips the build when nothing it depends on changed since the last one.
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
[ -f "$PLUGIN/app.js" ] || die "$PLUGIN has no app.js (the module that exports \`tool\`)"
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

command -v node >/dev/null || die "node is not installed (Node.js 20 or later)"
command -v npm >/dev/null || die "npm is not installed"

# One build at a time per checkout (several `./dev build-plugins` may run at once): they share
# the toolchain and the staging directories.
mkdir -p "$ROOT/target"
if command -v flock >/dev/null; then
  exec 9>"$ROOT/target/sdk-js-build.lock"
  flock 9
fi

# The toolchain, re-installed when the lock file changes.
TOOLS=$ROOT/target/sdk-node
if ! cmp -s "$SDK/package-lock.json" "$TOOLS/package-lock.json" ||
  [ ! -d "$TOOLS/node_modules/@bytecodealliance/componentize-js" ]; then
  echo "installing the JavaScript plugin toolchain into $TOOLS (npm install with package-lock.json)" >&2
  rm -rf "$TOOLS"
  mkdir -p "$TOOLS"
  cp "$SDK/package.json" "$SDK/package-lock.json" "$TOOLS/"
  # `npm install` with the committed lock rather than `npm ci`: the lock pins every package,
  # but it cannot list the optional per-platform binaries a registry does not carry, and
  # `npm ci` refuses a lock with such gaps.
  (cd "$TOOLS" && npm install --no-audit --no-fund --loglevel=error)
fi

# Everything the component is made from; an unchanged digest means the last build still holds.
inputs() {
  (
    cd "$PLUGIN"
    find . -type f \( -name '*.js' -o -name '*.mjs' -o -name '*.json' -o -name 'plugin.toml' \) \
      -not -path './node_modules/*' -not -path './build/*' | LC_ALL=C sort | xargs sha256sum
    cd "$SDK"
    sha256sum package-lock.json build-plugin.sh build-plugin.mjs
    find src -type f | LC_ALL=C sort | xargs sha256sum
    cd "$WIT"
    find . -maxdepth 1 -name '*.wit' | LC_ALL=C sort | xargs sha256sum
  ) | sha256sum | cut -d' ' -f1
}
DIGEST=$(inputs)
if [ -f "$OUT" ] && [ "$(cat "$OUT.inputs" 2>/dev/null)" = "$DIGEST" ]; then
  echo "$ID is up to date ($OUT)" >&2
  exit 0
fi

STAGE=$ROOT/target/sdk-build/js/$ID
mkdir -p "$(dirname "$OUT")"
# Run from the toolchain directory, so that its node_modules resolve.
cp "$SDK/build-plugin.mjs" "$TOOLS/build-plugin.mjs"
node "$TOOLS/build-plugin.mjs" --plugin "$PLUGIN" --sdk "$SDK" --wit "$WIT" \
  --wit-version "$WIT_VERSION" --world "$KIND-plugin" --stage "$STAGE" --out "$STAGE/component.wasm"

mv "$STAGE/component.wasm" "$OUT"
echo "$DIGEST" >"$OUT.inputs"
echo "built $OUT ($(stat -c %s "$OUT") bytes)" >&2
