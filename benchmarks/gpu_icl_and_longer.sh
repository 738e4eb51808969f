#!/usr/bin/env bash
# One device-tool session (H100, ~9 minutes), six GPU-budget runs side by side on the one GPU, each labelled
# "GPU budget" in its results: the Omniglot in-context learner against ProtoNet at an equal budget (Kirsch 2022;
# the preset's meta-batch of 8 and a meta-batch of 32); Relation Networks 1- and 5-shot with longer budgets than
# the first device sessions; the MANN's 15-class episodes (Santoro 2016); MAML 5w1s with twice its earlier
# budget. Expects the Omniglot archives in .gpu-data/omniglot (decoded once here, before the jobs); writes
# tarballs of the run folders and logs to $OUT. Pass the commit: `FASTADAPT_COMMIT=<sha> bash benchmarks/gpu_icl_and_longer.sh`.
# The tracked checkpoints (~50 MB) plus .gpu-data exceed the device tool's 64 MiB copy limit: move them aside for
# the call (`git ls-files 'results/*.safetensors' > L; tar cf /tmp/st.tar -T L; xargs rm < L`) and untar after.
JOB_TIMEOUT=530; source benchmarks/gpu_jobs.sh
decode_omniglot
job icl        python3 benchmarks/icl_omniglot.py --minutes 3 --results $R
job icl-mb32   python3 benchmarks/icl_omniglot.py --minutes 3 --set meta_batch=32 --results $R/mb32
job relation1  python3 benchmarks/metric_omniglot.py --method relation --shots 1 --budget-min 7 --results $R
job relation5  python3 benchmarks/metric_omniglot.py --method relation --shots 5 --budget-min 7 --results $R
job mann15     python3 benchmarks/mann_omniglot.py --classes 15 --full --meta-batch 32 --minutes 6.5 --results $R
job maml       python3 benchmarks/maml_omniglot.py --method maml --ways 5 --shots 1 --minutes 7 --results $R
pack 4
