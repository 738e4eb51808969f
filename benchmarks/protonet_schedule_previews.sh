#!/usr/bin/env bash
# Short ProtoNet schedule previews run on an H100 via the device tool (see results/protonet_schedule_previews.json).
# Each line trains one CPU-budget schedule and prints 5-way and 20-way test accuracy (1,000 episodes).
set -uo pipefail
export PYTHONPATH=$PWD/src FASTADAPT_DATA=$PWD/.gpu-data PYTHONUNBUFFERED=1
R=/tmp/prev; mkdir -p $R
run() { python - "$@" <<'PY'
import sys, json
from fastadapt.presets import get_preset, apply_overrides
from fastadapt.train.trainer import train
from fastadapt.tasks import build_sampler
from fastadapt.train.trainer import load_run
from fastadapt.train.evaluate import evaluate
cfg = apply_overrides(get_preset(sys.argv[1]), sys.argv[2:])
res = train(cfg, "/tmp/prev/" + "_".join(sys.argv[1:]).replace("=", ""), progress=False)
l, _ = load_run("/tmp/prev/" + "_".join(sys.argv[1:]).replace("=", ""), device="cuda")
r20 = evaluate(l, build_sampler(cfg, "test", 20, cfg["shots"], 15, cfg["eval_seed"]), 1000, device="cuda")
print(sys.argv[1:], "5w %.2f +- %.2f" % (100*res["accuracy"], 100*res["ci95"]), "20w %.2f +- %.2f" % (100*r20["accuracy"], 100*r20["ci95"]), "%.0fs" % res["train_seconds"])
PY
}
run omniglot-protonet-5w5s train_queries=1 steps=3750 lr_decay_every=1250
run omniglot-protonet-5w5s lr=0.002
run omniglot-protonet-5w5s train_ways=40 steps=3600 lr_decay_every=1200
run omniglot-protonet-5w1s lr_decay_every=1200
run omniglot-protonet-5w1s lr=0.002
