#!/usr/bin/env bash
# Full-protocol ProtoNet runs on a GPU (Snell 2017: 20,000 60-way episodes, lr halved every 2,000), for the
# device tool: expects Omniglot archives in .gpu-data/omniglot and writes a tarball of the run folders to $OUT.
# The device copy's git metadata can be stale: pass the commit, e.g. run `FASTADAPT_COMMIT=<sha> bash benchmarks/gpu_protonet.sh`.
set -uo pipefail
export PYTHONPATH=$PWD/src FASTADAPT_DATA=$PWD/.gpu-data PYTHONUNBUFFERED=1
nvidia-smi -L
R=/tmp/gpu-results; mkdir -p $R
for k in 1 5; do
  python benchmarks/protonet_omniglot.py --shots $k --full --results $R 2>&1 | grep -v '^\s*$' | tail -5
done
tar czf "$OUT/protonet-gpu.tgz" -C $R .
ls -la $R/*
