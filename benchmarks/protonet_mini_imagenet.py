"""Benchmark: a mini-ImageNet run (Conv4, 84x84, Ravi split) against its paper, and the same model on cross-domain
flowers. One model, trained by a `mini-imagenet-<method>-5w5s` preset (<= 2 h on 2 CPU cores), serves both test
settings; this script tests it 5-way 1-shot and 5-shot on 1,000 mini-ImageNet test episodes and on 600
flowers102-partial episodes, writes `results/mini-imagenet-<method>-5w1s/` (the same weights, tested 1-shot) and the
side-by-side record `results/mini_imagenet_<method>.json`. Papers: ProtoNet against Snell et al. (2017); the
pre-training baseline against Chen et al. (2019)'s Baseline and Baseline++ (Conv4) and SimpleShot (Wang 2019).

    fastadapt train --preset mini-imagenet-protonet-5w5s --out results/mini-imagenet-protonet-5w5s   # the training
    python benchmarks/protonet_mini_imagenet.py [--run results/mini-imagenet-protonet-5w5s]
    python benchmarks/protonet_mini_imagenet.py --run results/mini-imagenet-baseline-5w5s
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
from fastadapt.train.trainer import git_commit, load_run, machine, provenance

PAPERS = {  # 5-way accuracy (%, 95% CI) of Conv4 models, 1-shot and 5-shot
    "protonet": {"Snell 2017, Table 2": {1: (49.42, 0.78), 5: (68.20, 0.66)}},
    "baseline": {
        "Chen 2019 Baseline, Table A5": {1: (42.11, 0.71), 5: (62.53, 0.69)},
        "Chen 2019 Baseline++, Table A5": {1: (48.24, 0.75), 5: (66.43, 0.63)},
        "SimpleShot (Wang 2019) CL2N, Conv4": {1: (49.69, 0.19), 5: (66.92, 0.17)},
    },
    "matching": {
        "Vinyals 2016 Matching Nets (FCE), as run by Ravi & Larochelle 2017, Table 1": {
            1: (43.56, 0.84),
            5: (55.31, 0.73),
        }
    },
    "relation": {"Sung 2018 Relation Network, Table 2": {1: (50.44, 0.82), 5: (65.32, 0.70)}},
    "maml": {"Finn 2017 MAML, Table 2 (first order: 48.07 / 63.15)": {1: (48.70, 1.84), 5: (63.11, 0.92)}},
    "versa": {"Gordon 2019 VERSA, Table 3": {1: (53.40, 1.82), 5: (67.37, 0.86)}},
}
GOAL_CPU = {"protonet": {1: 44.0, 5: 62.0}}  # the 2-hour CPU goals (the best method: 47.0 / 65.0)
GOAL_BEST = {1: 47.0, 5: 65.0}


def flowers_test(learner, cfg: dict, shots: int) -> dict:
    """The cross-domain test: 600 5-way flowers102-partial episodes (15 queries) on the run's eval seed."""
    sampler = build_sampler({**cfg, "dataset": "flowers102-partial"}, "test", 5, shots, 15, cfg["eval_seed"])
    return evaluate(learner, sampler, 600)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", default="results/mini-imagenet-protonet-5w5s")
    p.add_argument("--out", help="default: results/mini_imagenet_<method>.json")
    a = p.parse_args()
    start = time.time()
    run = Path(a.run)
    learner, cfg = load_run(run)
    method = cfg["method"]
    a.out = a.out or f"results/mini_imagenet_{method}.json"
    trained = json.loads((run / "results.json").read_text())
    rows = {}
    for shots in (1, 5):
        same = (trained.get("ways"), trained.get("shots"), trained.get("queries"), trained.get("episodes"))
        if same == (5, shots, 15, 1000):  # the trainer tested this setting on these episodes already
            mini = trained
        else:
            mini = evaluate(learner, build_sampler(cfg, "test", 5, shots, 15, cfg["eval_seed"]), 1000)
        flowers = flowers_test(learner, cfg, shots)
        rows[f"5w{shots}s"] = {
            "mini_imagenet": {k: mini[k] for k in ("accuracy", "ci95", "nll", "ece", "episodes")},
            "flowers102_partial": {k: flowers[k] for k in ("accuracy", "ci95", "episodes")},
            "papers": {k: v[shots] for k, v in PAPERS.get(method, {}).items()},
            "cpu_goal": GOAL_CPU.get(method, GOAL_BEST)[shots],
        }
        print(
            f"5-way {shots}-shot: mini-ImageNet {100 * mini['accuracy']:.2f} +- {100 * mini['ci95']:.2f} "
            f"(papers {rows[f'5w{shots}s']['papers']}), flowers {100 * flowers['accuracy']:.2f} +- "
            f"{100 * flowers['ci95']:.2f}"
        )
    one = Path(str(run).replace("-5w5s", "-5w1s"))
    one.mkdir(exist_ok=True)
    shutil.copy(run / "best.safetensors", one / "best.safetensors")
    cfg1 = {**cfg, "preset": cfg["preset"].replace("-5w5s", "-5w1s"), "shots": 1}
    (one / "config.json").write_text(json.dumps(cfg1, indent=1))
    (one / "results.json").write_text(
        json.dumps(
            {
                "preset": cfg1["preset"],
                "note": f"the weights of {run} (trained 20-way 5-shot), tested 5-way 1-shot",
                "command": "python benchmarks/protonet_mini_imagenet.py",
                "split": "test",
                **rows["5w1s"]["mini_imagenet"],
                "ways": 5,
                "shots": 1,
                "train_steps": trained["train_steps"],
                "train_seconds": trained["train_seconds"],
                "seed": cfg["seed"],
                "commit": git_commit(),
                "machine": machine(),
            },
            indent=1,
        )
    )
    val = [r for r in read_log(run / "metrics.jsonl") if "val_acc" in r]
    out = {
        "benchmark": f"{method}, Conv4, mini-ImageNet 84x84 (Ravi split) and cross-domain flowers",
        "command": f"python benchmarks/protonet_mini_imagenet.py --run {a.run}",
        "run": str(run),
        "training": {
            "preset": cfg["preset"],
            "train_steps": trained["train_steps"],
            "train_seconds": trained["train_seconds"],
            "precision": cfg.get("precision"),
            "episodes": f"{cfg['train_ways']}-way {cfg['train_shots']}-shot, {cfg['train_queries']} queries",
            "validation_curve": [(r["step"], round(r["val_acc"], 4)) for r in val],
        },
        "results": rows,
        "eval_seed": cfg["eval_seed"],
        "seed": cfg["seed"],
        **provenance(start),
    }
    Path(a.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
