#!/usr/bin/env bash
# One device-tool session (H100, ~9 minutes), six GPU-budget runs side by side on the one GPU, each labelled
# "GPU budget" in its results: the MANN (Santoro 2016) with the paper's 100,000 training episodes (capped by a
# time budget) from pixels and from a Conv4 encoder; the metric learners' 5-shot models (tested 5- and 20-way);
# and MAML 5w5s and 20w1s. Expects the Omniglot archives in .gpu-data/omniglot (decoded once here, before the jobs);
# writes tarballs of the run folders and logs to $OUT. The device copy's git metadata can be stale: pass the
# commit, e.g. `FASTADAPT_COMMIT=<sha> bash benchmarks/gpu_mann_fewshot.sh`.
JOB_TIMEOUT=530; source benchmarks/gpu_jobs.sh
decode_omniglot
job mann-pixels python3 benchmarks/mann_omniglot.py --classes 5 --full --meta-batch 32 --minutes 5.5 --results $R
job mann-conv4  python3 benchmarks/mann_omniglot.py --classes 5 --full --meta-batch 32 --minutes 5.5 --encoder conv4 --results $R
job relation    python3 benchmarks/metric_omniglot.py --method relation --shots 5 --budget-min 4 --results $R
job matching    python3 benchmarks/metric_omniglot.py --method matching --shots 5 --budget-min 4 --results $R
job siamese     python3 benchmarks/metric_omniglot.py --method siamese --shots 5 --budget-min 4 --results $R
job maml bash -c "python3 benchmarks/maml_omniglot.py --method maml --ways 5 --shots 5 --minutes 2.5 --results $R && \
                  python3 benchmarks/maml_omniglot.py --method maml --ways 20 --shots 1 --minutes 2.5 --results $R"
pack 4
