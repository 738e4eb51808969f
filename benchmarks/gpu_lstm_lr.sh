#!/usr/bin/env bash
# One short device-tool call (H100, ~4 minutes): does a smaller learning rate for the LSTM learner's recurrent
# part (lstm_lr_scale; the encoder keeps the schedule's rate) keep its filing initialisation and close the gap to
# ProtoNet? 20-way 1-shot at the CPU comparison's 1,000 episodes, scale 1 (as before), 0.1 and 0.03, and ProtoNet
# on the same budget, side by side on the one GPU; each training capped at 150 s by the trainer's clock.
# `FASTADAPT_COMMIT=<sha> bash benchmarks/gpu_lstm_lr.sh` (move the tracked checkpoints aside first).
JOB_TIMEOUT=230; source benchmarks/gpu_jobs.sh
decode_omniglot
B="python3 benchmarks/blackbox_omniglot.py --ways 20 --steps 1000 --latency-tasks 10 --results $R --set max_train_seconds=150"
job lstm-1    $B --learners lstm --tag=-gpu-lr1
job lstm-0.1  $B --learners lstm --set lstm_lr_scale=0.1 --tag=-gpu-lr0.1
job lstm-0.03 $B --learners lstm --set lstm_lr_scale=0.03 --tag=-gpu-lr0.03
job protonet  $B --learners protonet --tag=-gpu-protonet
pack 3
