#!/usr/bin/env bash
# MAML meta-iteration against the peers on the GPU machine, alone (device tool). Peers' wheels (higher, TorchOpt,
# optree, graphviz for the machine's Python) unpacked in .gpu-peers/site; the results file is written after every round.
# The device copy's git metadata can be stale: pass the commit, e.g. run `FASTADAPT_COMMIT=<sha> bash benchmarks/gpu_peers.sh`.
export PYTHONPATH=$PWD/src:$PWD/.gpu-peers/site PYTHONUNBUFFERED=1
timeout ${1:-160} python3 -W ignore benchmarks/peers_maml.py --device cuda --threads 2 --rounds 2 --iters 8 --warmup 3 \
  --steps 1 5 --orders second --impls fastadapt higher torchopt --peers-python "$(command -v python3)" --out $OUT/peers_maml_gpu.json \
  --skip "learn2learn=no build for the GPU machine's Python 3.12 (its Cython extensions need compiling; no network there)" 2>&1 | grep -v Warning
# fastadapt alone with the meta-batch back-propagated in chunks of 8 tasks (task_chunk): GPU memory against speed.
timeout ${2:-120} python3 -W ignore benchmarks/peers_maml.py --device cuda --threads 2 --rounds 2 --iters 8 --warmup 3 \
  --steps 1 5 --orders second --impls fastadapt --task-chunk 8 --out $OUT/peers_maml_gpu_chunk8.json 2>&1 | grep -v Warning
