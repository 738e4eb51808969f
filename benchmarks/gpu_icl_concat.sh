#!/usr/bin/env bash
# Prepared for the next device-tool session (H100, ~9 minutes; not run yet): the Omniglot in-context learner with
# concatenated label tokens (icl_label_dim=64, which lifted CLINC150 5w1s from 83.42 to 85.99 on CPU) against
# ProtoNet at an equal 3-minute budget, at meta-batches 32 and 64 (the added-label learner at meta-batch 32 was
# 2.64 points short of ProtoNet: results/icl-omniglot-mb32); and VERSA 1-shot with 12,000 episodes (its GPU run had
# 10,000 and is 1.0 / 1.6 points short). Same usage as gpu_icl_and_longer.sh (pass FASTADAPT_COMMIT; move the
# tracked checkpoints aside so the copy stays under 64 MiB; carry .gpu-data).
JOB_TIMEOUT=530; source benchmarks/gpu_jobs.sh
decode_omniglot
job icl-concat-mb32 python3 benchmarks/icl_omniglot.py --minutes 3 --set meta_batch=32 --set icl_label_dim=64 --results $R/concat-mb32
job icl-concat-mb64 python3 benchmarks/icl_omniglot.py --minutes 3 --set meta_batch=64 --set icl_label_dim=64 --results $R/concat-mb64
job versa1          python3 benchmarks/versa_omniglot.py --shots 1 --steps 12000 --lr-decay-every 4000 --results $R
pack 4
