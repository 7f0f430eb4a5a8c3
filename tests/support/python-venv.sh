#!/usr/bin/env bash
# A Python virtualenv with the unmodified `openai` client from PyPI, for the gateway tests, and
# `jsonschema` for checking protocol frames against docs/protocol/ (cached in target/py-venv).
# Prints the interpreter's path.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=$PWD/target/py-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import openai, jsonschema, mcp' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'openai>=1.50,<3' 'jsonschema>=4.18,<5' 'mcp>=2.3,<3'
fi
echo "$VENV/bin/python"
