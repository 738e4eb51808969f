#!/usr/bin/env bash
# Set up .venv with the test extras and run the whole test suite (real Omniglot trainings included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh ".[test,text,docs,rl]"
if [ -z "${FASTADAPT_DATA:-}" ] && [ -f ../shared/data/omniglot/images_background.zip ]; then
  export FASTADAPT_DATA="$(cd ../shared/data && pwd)"
fi
.venv/bin/python -m pytest -q --durations=15 "$@"
