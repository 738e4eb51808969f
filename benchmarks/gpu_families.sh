#!/usr/bin/env bash
# One device-tool session (H100, ~9 minutes): (1) the MAML speed comparison against the peers on the GPU,
# alone on the machine; then (2) GPU-budget trainings of the other families, run side by side on the one GPU
# (each with its own short budget, labelled "GPU budget" in its results). Expects the Omniglot archives (and
# their decoded cache) in .gpu-data/omniglot and the peers' wheels unpacked in .gpu-peers/site (higher,
# TorchOpt, optree for the machine's Python); writes tarballs of the run folders and logs to $OUT.
# The device copy's git metadata can be stale: pass the commit, e.g. run `FASTADAPT_COMMIT=<sha> bash benchmarks/gpu_families.sh`.
JOB_TIMEOUT=390 GPU_EXTRA_PATH=$PWD/.gpu-peers/site; source benchmarks/gpu_jobs.sh
python3 -c "import higher, torchopt; print('torchopt', torchopt.__version__)"

timeout 170 python3 benchmarks/peers_maml.py --device cuda --threads 2 --rounds 2 --iters 8 --warmup 3 \
  --steps 1 5 --orders second --impls fastadapt higher torchopt --peers-python "$(command -v python3)" --out $R/peers_maml_gpu.json \
  --skip "learn2learn=no build for the GPU machine's Python 3.12 (its Cython extensions need compiling; no network there)" \
  > $L/peers.log 2>&1
echo "peers done after $(( $(date +%s) - START )) s"; tail -4 $L/peers.log

job maml     python3 benchmarks/maml_omniglot.py --method maml --ways 5 --shots 1 --minutes 4 --results $R
job relation python3 benchmarks/metric_omniglot.py --method relation --shots 1 --budget-min 4 --results $R
job matching python3 benchmarks/metric_omniglot.py --method matching --shots 1 --budget-min 4 --results $R
job siamese  python3 benchmarks/metric_omniglot.py --method siamese --shots 1 --budget-min 4 --results $R
job versa    python3 benchmarks/versa_omniglot.py --shots 1 --steps 10000 --lr-decay-every 2500 --results $R
job mann     python3 benchmarks/mann_omniglot.py --classes 5 --results $R
job blackbox bash -c "python3 benchmarks/blackbox_omniglot.py --ways 5 --steps 6000 --results $R && \
                      python3 benchmarks/blackbox_omniglot.py --ways 20 --steps 6000 --results $R"
pack 6
