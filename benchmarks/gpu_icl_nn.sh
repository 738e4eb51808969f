#!/usr/bin/env bash
# One device-tool session (H100, two calls of ~6.5 minutes): the Omniglot in-context learner with the
# nearest-neighbour start (icl_init=nn: its first attention layer begins as a cosine soft nearest-neighbour readout; 96.09 against
# ProtoNet's 98.05 on 2 CPU cores, results/icl-omniglot-5w1s-cpu15min.json) against ProtoNet at an equal
# 3-minute budget that the trainer's clock now enforces (max_train_seconds), at meta-batches 8 and 32 and at
# width 128. Three jobs side by side on the one GPU, each training its own ProtoNet at the same time as its
# in-context learner. Usage as gpu_icl_and_longer.sh (pass FASTADAPT_COMMIT; move the tracked checkpoints
# aside so the copy stays under 64 MiB; carry .gpu-data).
# `bash benchmarks/gpu_icl_nn.sh seeds` (the second call, on the still-warm machine) repeats meta-batch 32 with
# seeds 1 and 2 and meta-batch 8 with seed 1.
if [ "${1:-}" = seeds ]; then JOB_TIMEOUT=405; else JOB_TIMEOUT=520; fi
source benchmarks/gpu_jobs.sh
decode_omniglot
NN="--minutes 3 --set icl_init=nn --set icl_heads=1 --set icl_label_dim=16"
if [ "${1:-}" = seeds ]; then
  job s1-mb32    python3 benchmarks/icl_omniglot.py $NN --set icl_dim=64 --set meta_batch=32 --seed 1 --results $R/nn-mb32-seed1
  job s2-mb32    python3 benchmarks/icl_omniglot.py $NN --set icl_dim=64 --set meta_batch=32 --seed 2 --results $R/nn-mb32-seed2
  job s1-mb8     python3 benchmarks/icl_omniglot.py $NN --set icl_dim=64 --seed 1 --results $R/nn-mb8-seed1
else
  job nn-mb8       python3 benchmarks/icl_omniglot.py $NN --set icl_dim=64 --results $R/nn-mb8
  job nn-mb32      python3 benchmarks/icl_omniglot.py $NN --set icl_dim=64 --set meta_batch=32 --results $R/nn-mb32
  job nn-mb32-d128 python3 benchmarks/icl_omniglot.py $NN --set icl_dim=128 --set meta_batch=32 --results $R/nn-mb32-d128
fi
pack 4
