#!/usr/bin/env bash
# Real MCP servers for host/mcp's tests: @modelcontextprotocol/server-everything and
# server-filesystem from npm, at the exact versions in tests/support/mcp/package-lock.json
# (installed with `npm ci` into tests/support/mcp/node_modules, which git ignores).
# Prints one line per server: `<name> <path of its executable>`.
set -euo pipefail
cd "$(dirname "$0")/mcp"
if [ ! -x node_modules/.bin/mcp-server-everything ] || [ ! -x node_modules/.bin/mcp-server-filesystem ] \
  || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
echo "everything $PWD/node_modules/.bin/mcp-server-everything"
echo "filesystem $PWD/node_modules/.bin/mcp-server-filesystem"
