"""Benchmark: Prototypical Networks on mini-ImageNet (Conv4, 84x84, Ravi split) against Snell et al. (2017), and the
same models on cross-domain flowers. One model, trained by the `mini-imagenet-protonet-5w5s` preset (20-way 5-shot,
15 queries; <= 2 h on 2 CPU cores), serves both test settings; this script tests it 5-way 1-shot and 5-shot on 1,000
mini-ImageNet test episodes and on 600 flowers102-partial episodes, writes `results/mini-imagenet-protonet-5w1s/` (the
same weights, tested 1-shot) and the side-by-side record `results/mini_imagenet_protonet.json`.

    fastadapt train --preset mini-imagenet-protonet-5w5s --out results/mini-imagenet-protonet-5w5s   # the training
    python benchmarks/protonet_mini_imagenet.py [--run results/mini-imagenet-protonet-5w5s]
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from fastadapt.tasks import build_sampler
from fastadapt.train.evaluate import evaluate
from fastadapt.train.run_log import read_log
from fastadapt.train.trainer import git_commit, load_run, machine

PAPER = {1: (49.42, 0.78), 5: (68.20, 0.66)}        # Snell et al. 2017, Table 2 (Conv4, 5-way, 600 episodes)
GOAL_CPU = {1: 44.0, 5: 62.0}                       # the 2-hour CPU goals


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", default="results/mini-imagenet-protonet-5w5s")
    p.add_argument("--out", default="results/mini_imagenet_protonet.json")
    a = p.parse_args()
    start = time.time()
    run = Path(a.run)
    learner, cfg = load_run(run)
    trained = json.loads((run / "results.json").read_text())
    rows = {}
    for shots in (1, 5):
        mini = evaluate(learner, build_sampler(cfg, "test", 5, shots, 15, cfg["eval_seed"]), 1000)
        flowers = evaluate(learner, build_sampler({**cfg, "dataset": "flowers102-partial"}, "test", 5, shots, 15,
                                                  cfg["eval_seed"]), 600)
        rows[f"5w{shots}s"] = {"mini_imagenet": {k: mini[k] for k in ("accuracy", "ci95", "nll", "ece", "episodes")},
                               "flowers102_partial": {k: flowers[k] for k in ("accuracy", "ci95", "episodes")},
                               "paper": PAPER[shots], "cpu_goal": GOAL_CPU[shots]}
        print(f"5-way {shots}-shot: mini-ImageNet {100 * mini['accuracy']:.2f} +- {100 * mini['ci95']:.2f} "
              f"(paper {PAPER[shots][0]}), flowers {100 * flowers['accuracy']:.2f} +- {100 * flowers['ci95']:.2f}")
    one = Path(str(run).replace("-5w5s", "-5w1s"))
    one.mkdir(exist_ok=True)
    shutil.copy(run / "best.safetensors", one / "best.safetensors")
    cfg1 = {**cfg, "preset": "mini-imagenet-protonet-5w1s", "shots": 1}
    (one / "config.json").write_text(json.dumps(cfg1, indent=1))
    (one / "results.json").write_text(json.dumps(
        {"preset": cfg1["preset"], "note": f"the weights of {run} (trained 20-way 5-shot), tested 5-way 1-shot",
         "command": "python benchmarks/protonet_mini_imagenet.py", "split": "test",
         **rows["5w1s"]["mini_imagenet"], "ways": 5, "shots": 1, "train_steps": trained["train_steps"],
         "train_seconds": trained["train_seconds"], "seed": cfg["seed"], "commit": git_commit(), "machine": machine()},
        indent=1))
    val = [r for r in read_log(run / "metrics.jsonl") if "val_acc" in r]
    out = {"benchmark": "ProtoNet (Snell 2017), Conv4, mini-ImageNet 84x84 (Ravi split) and cross-domain flowers",
           "command": f"python benchmarks/protonet_mini_imagenet.py --run {a.run}", "run": str(run),
           "training": {"preset": cfg["preset"], "train_steps": trained["train_steps"],
                        "train_seconds": trained["train_seconds"], "precision": cfg.get("precision"),
                        "episodes": "20-way 5-shot, 15 queries", "validation_curve": [(r["step"], round(r["val_acc"], 4))
                                                                                     for r in val]},
           "results": rows, "eval_seed": cfg["eval_seed"], "seed": cfg["seed"], "commit": git_commit(),
           "machine": machine(), "wall_seconds": round(time.time() - start, 1)}
    Path(a.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
