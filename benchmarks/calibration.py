"""Benchmark: temperature scaling (Guo et al., 2017; `fastadapt calibrate`) of the committed mini-ImageNet runs.
Each run's temperature is fitted on 300 validation episodes (validation classes, the run's own shot count) and judged
on its 1,000 test episodes (the ones its results.json reports): ECE (15 bins), NLL and Brier before and after;
accuracy does not change. The run folders are copied first, so the committed ones keep no calibration.json.

    python benchmarks/calibration.py [--runs results/mini-imagenet-protonet-5w1s ...] [--add]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from fastadapt.learners.base import Prediction
from fastadapt.tasks import build_sampler
from fastadapt.train.calibrate import METRICS, calibrate_run
from fastadapt.train.evaluate import collect, summarize
from fastadapt.train.trainer import load_run, provenance

RUNS = [
    "results/mini-imagenet-protonet-5w1s",
    "results/mini-imagenet-protonet-5w5s",
    "results/mini-imagenet-protonet-5w5s-cosine",
    "results/mini-imagenet-matching-5w5s",
    "results/mini-imagenet-baselinepp-5w1s",
    "results/mini-imagenet-baselinepp-5w5s",
]


def one_run(run: str, val_episodes: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / Path(run).name
        copy.mkdir()
        for name in ("config.json", "best.safetensors"):
            shutil.copy(Path(run) / name, copy / name)
        fit = calibrate_run(copy, "val", val_episodes)
        learner, cfg = load_run(copy)
    learner.calibration_temperature = 1.0
    test = build_sampler(cfg, "test", cfg["ways"], cfg["shots"], cfg["queries"], cfg["eval_seed"])
    pred, labels, _ = collect(learner, test, cfg["eval_episodes"])
    t = fit["temperature"]
    before, after = summarize(pred, labels), summarize(Prediction(logits=pred.logits / t), labels)
    return {
        "run": run,
        "shots": cfg["shots"],
        "temperature": round(t, 4),
        "val_episodes": val_episodes,
        "test_episodes": cfg["eval_episodes"],
        "test_accuracy": round(100 * before["accuracy"], 2),
        "test_before": {k: round(before[k], 4) for k in METRICS},
        "test_after": {k: round(after[k], 4) for k in METRICS},
        "val_before": {k: round(fit["before"][k], 4) for k in METRICS},
        "val_after": {k: round(fit["after"][k], 4) for k in METRICS},
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", nargs="+", default=RUNS)
    p.add_argument("--val-episodes", type=int, default=300)
    p.add_argument("--out", default="results/calibration_mini_imagenet.json")
    p.add_argument("--add", action="store_true", help="keep the rows already in --out and measure the other runs")
    a = p.parse_args()
    start = time.time()
    old = json.loads(Path(a.out).read_text()) if a.add and Path(a.out).exists() else {"rows": []}
    rows = [r for r in old["rows"] if r["run"] in a.runs]
    for run in a.runs:
        if any(r["run"] == run for r in rows):
            continue
        rows.append(one_run(run, a.val_episodes))
        r = rows[-1]
        print(
            f"{run} ({r['shots']}-shot, T {r['temperature']}): test ECE {r['test_before']['ece']} -> "
            f"{r['test_after']['ece']}, NLL {r['test_before']['nll']} -> {r['test_after']['nll']}",
            flush=True,
        )
        out = {
            "benchmark": "temperature scaling (fastadapt calibrate) fitted on validation episodes, judged on test "
            "episodes",
            "command": "python benchmarks/calibration.py" + ("" if a.runs == RUNS else " --runs " + " ".join(a.runs)),
            "rows": sorted(rows, key=lambda r: a.runs.index(r["run"])),
            "seed": "the runs' eval_seed (2017) for both the validation and the test episodes",
            **provenance(start - old.get("wall_seconds", 0.0)),
        }
        Path(a.out).write_text(json.dumps(out, indent=1) + "\n")  # after every run: a stopped job keeps its rows


if __name__ == "__main__":
    main()
