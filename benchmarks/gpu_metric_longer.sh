#!/usr/bin/env bash
# One device-tool session (H100, ~9 minutes): six GPU-budget runs side by side on the one GPU, each labelled
# "GPU budget" in its results. Relation Networks (Sung 2018) trained on the paper's own episode shapes (5-way
# 1-shot with 19 queries a class, 20-way 1-shot with 10, 5-way 5-shot with 15) instead of our 20-way 5-query
# episodes; Matching and Siamese networks 5-shot with a longer budget than the first device session (their
# 20-way 5-shot numbers were 0.15 / 0.26 points under the papers); VERSA (Gordon 2019) 1-shot, longer. Every
# training run is held to 5.5 minutes by the trainer's clock (max_train_seconds) so the tests fit the job limit.
# Expects the Omniglot archives in .gpu-data/omniglot; writes tarballs of the run folders and logs to $OUT.
# Pass the commit: `FASTADAPT_COMMIT=<sha> bash benchmarks/gpu_metric_longer.sh` (move the tracked checkpoints
# aside first, see gpu_icl_and_longer.sh: the copy limit is 64 MiB).
JOB_TIMEOUT=535; source benchmarks/gpu_jobs.sh
decode_omniglot
M="python3 benchmarks/metric_omniglot.py --budget-min 5.5 --results $R"
job relation1-p5  $M --method relation --shots 1 --set train_ways=5 --set train_queries=19 --tag=-paper5w
job relation1-p20 $M --method relation --shots 1 --set train_ways=20 --set train_queries=10 --tag=-paper20w
job relation5-p5  $M --method relation --shots 5 --set train_ways=5 --set train_queries=15 --tag=-paper5w
job matching5     $M --method matching --shots 5
job siamese5      $M --method siamese --shots 5
job versa1        python3 benchmarks/versa_omniglot.py --shots 1 --steps 16000 --lr-decay-every 4000 --minutes 5.5 \
                  --tag=-gpu5.5min --results $R
pack 4
