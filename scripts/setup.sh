#!/usr/bin/env bash
# Create .venv with a CPU build of PyTorch (pinned: an unpinned torch pulls a multi-GB CUDA build)
# and fastadapt installed in it. Extra pip arguments (e.g. ".[test]") name what else to install.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q -e "${1:-.}"
