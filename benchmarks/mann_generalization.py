"""Benchmark: how much a trained memory-augmented network (Santoro et al., 2016) overfits its training
characters, and how it copes with translated images.

Scores each run's network with its training objective (Santoro sequences: 5 classes x 10 drawings, every step
predicted, accuracy overall and at the 2nd presentation of a class) on sequences of training and of test
characters, unshifted and with every image moved by a random offset of up to 1 and 2 pixels per axis
(`fastadapt.tasks.augment.random_translate`, the ``mann_shift`` augmentation).

    python benchmarks/mann_generalization.py results/omniglot-mann-5class-full-20px-896k \\
        results/omniglot-mann-5class-20px-896k-shift1-144k --out results/mann-generalization.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from fastadapt.tasks import build_sampler
from fastadapt.train.trainer import git_commit, load_run, machine


def score(learner, sampler, batches: int, shift: int) -> dict[str, float]:
    learner.train()  # meta_loss applies the translation only in training mode
    learner.shift, learner.rotate = shift, 0.0  # only the translation under study, whatever the run trained with
    accs = [learner.meta_loss(sampler.batch(i, 32))[1] for i in range(batches)]
    return {k: sum(a[k] for a in accs) / len(accs) for k in ("acc", "acc_inst2")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="MANN run folders")
    p.add_argument("--batches", type=int, default=8, help="batches of 32 sequences per score")
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--out", default="results/mann-generalization.json")
    a = p.parse_args()
    t, out = time.time(), {}
    with torch.no_grad():
        for run in a.runs:
            learner, cfg = load_run(run)
            out[run] = {}
            for part in ("train", "test"):
                sampler = build_sampler(cfg, part, cfg["ways"], 1, 9, a.seed)
                for shift in (0, 1, 2):
                    out[run][f"{part}_shift{shift}"] = r = score(learner, sampler, a.batches, shift)
                    print(
                        f"{run} {part} shift {shift}: acc {100 * r['acc']:.1f}%, 2nd instance "
                        f"{100 * r['acc_inst2']:.1f}%"
                    )
    doc = {
        "command": "python " + " ".join(sys.argv),
        "seed": a.seed,
        "commit": git_commit(),
        "machine": machine(),
        "wall_seconds": time.time() - t,
        "sequences_per_score": 32 * a.batches,
        "results": out,
    }
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
