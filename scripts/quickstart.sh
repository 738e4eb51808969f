#!/usr/bin/env bash
# The main job on a fresh machine: set up, meta-train a Prototypical Network on real Omniglot
# (5-way 1-shot, vinyals split), then evaluate it on 1,000 test episodes. About 12 minutes on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${FASTADAPT_DATA:-}" ] && [ -f ../shared/data/omniglot/images_background.zip ]; then
  export FASTADAPT_DATA="$(cd ../shared/data && pwd)"
fi
OUT=${OUT:-runs/quickstart-protonet-5w1s}
if [ -e "$OUT" ]; then                 # never delete an earlier run: train into the next free numbered folder
  n=2
  while [ -e "$OUT-$n" ]; do n=$((n + 1)); done
  echo "$OUT already exists and is kept; this run goes to $OUT-$n"
  OUT="$OUT-$n"
fi
.venv/bin/fastadapt data omniglot
.venv/bin/fastadapt train --preset omniglot-protonet-5w1s --out "$OUT" \
    --set steps=1200 --set lr_decay_every=500 --set val_every=400
.venv/bin/fastadapt eval "$OUT" --ways 20
