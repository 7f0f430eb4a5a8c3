#!/usr/bin/env bash
# Prepares the web UI's browser test (tests/all/webui.rs): Debian's Chromium, and playwright-core
# (pinned in tests/support/webui/package-lock.json) in tests/support/webui/node_modules.
# Idempotent and quiet when everything is in place; prints the Chromium path on stdout.
set -euo pipefail
cd "$(dirname "$0")/webui"

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  install() { "${sudo[@]}" apt-get install -y -q --no-install-recommends chromium >&2; }
  if ! install; then
    "${sudo[@]}" apt-get update -q >&2
    install
  fi
  [ -x "$chromium" ] || { echo "chromium is not at $chromium after installing it" >&2; exit 1; }
fi

command -v node >/dev/null || { echo "node is not installed (the web UI test needs Node.js 20+)" >&2; exit 1; }
# npm ci again when the lock file changed since the last install.
stamp=node_modules/.package-lock.json
if [ ! -d node_modules/playwright-core ] || [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund >&2
fi

echo "$chromium"
