"""Benchmark: the test-time head of a pre-trained baseline run (Chen 2019 / Tian 2020), chosen on validation
episodes and only then tested. Candidates: cosine prototypes or logistic regression on the L2-normalized support
features (RFS), each with or without mirror-image feature averaging (`tta_flip`). No retraining: the same weights.
A run of another encoder learner (ProtoNet) has its one head, with or without mirror-image averaging.
The choice is made per shot count on 300 validation episodes; the chosen head is tested on the 1,000 test
episodes of the trainer (eval_seed) and 600 flowers102-partial episodes.

    python benchmarks/baseline_test_heads.py --run results/mini-imagenet-baselinepp-5w5s
    python benchmarks/baseline_test_heads.py --run results/mini-imagenet-protonet-5w5s
    python benchmarks/baseline_test_heads.py --run results/mini-imagenet-protonet-5w1s-30way --shots 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from protonet_mini_imagenet import flowers_test  # the same cross-domain episodes

from fastadapt.tasks import build_sampler
from fastadapt.train.evaluate import evaluate
from fastadapt.train.trainer import load_run, provenance

HEADS = [(h, flip) for h in ("prototype", "logistic") for flip in (False, True)]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", default="results/mini-imagenet-baselinepp-5w5s")
    p.add_argument("--val-episodes", type=int, default=300)
    p.add_argument("--shots", default="1,5", help="the shot counts to choose and test a head for, comma-separated")
    p.add_argument("--out", help="default: results/<run name>_test_heads.json")
    a = p.parse_args()
    start = time.time()
    learner, cfg = load_run(a.run)
    out_path = a.out or f"results/{Path(a.run).name.replace('-5w5s', '')}_test_heads.json"
    rows = {}
    heads = HEADS if hasattr(learner, "test_head") else [("own", False), ("own", True)]
    for shots in (int(k) for k in a.shots.split(",")):
        val = {}
        for head, flip in heads:
            if head != "own":
                learner.test_head = head
            learner.configure_encoder(tta_flip=flip)
            sampler = build_sampler(cfg, "val", 5, shots, 15, cfg["eval_seed"])
            r = evaluate(learner, sampler, a.val_episodes)
            val[f"{head}{'+flip' if flip else ''}"] = {"accuracy": r["accuracy"], "ci95": r["ci95"]}
            print(f"5w{shots}s val {head} flip={flip}: {100 * r['accuracy']:.2f} +- {100 * r['ci95']:.2f}", flush=True)
        best = max(val, key=lambda k: val[k]["accuracy"])
        head, flip = best.split("+")[0], best.endswith("+flip")
        if head != "own":
            learner.test_head = head
        learner.configure_encoder(tta_flip=flip)
        test = evaluate(learner, build_sampler(cfg, "test", 5, shots, 15, cfg["eval_seed"]), 1000)
        flowers = flowers_test(learner, cfg, shots)
        rows[f"5w{shots}s"] = {
            "validation": val,
            "chosen": best,
            "test": {k: test[k] for k in ("accuracy", "ci95", "nll", "ece", "episodes")},
            "flowers102_partial": {k: flowers[k] for k in ("accuracy", "ci95", "episodes")},
        }
        print(
            f"5w{shots}s chosen {best}: test {100 * test['accuracy']:.2f} +- {100 * test['ci95']:.2f}, flowers "
            f"{100 * flowers['accuracy']:.2f} +- {100 * flowers['ci95']:.2f}",
            flush=True,
        )
    doc = {
        "benchmark": f"{cfg['method']}: test-time head chosen on validation episodes, then tested",
        "command": f"python benchmarks/baseline_test_heads.py --run {a.run} --val-episodes {a.val_episodes}"
        + (f" --shots {a.shots}" if a.shots != "1,5" else ""),
        "run": a.run,
        "results": rows,
        "eval_seed": cfg["eval_seed"],
        "seed": cfg["seed"],
        **provenance(start),
    }
    Path(out_path).write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
