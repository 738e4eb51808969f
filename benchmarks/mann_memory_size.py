"""Benchmark: a trained memory-augmented network (Santoro et al., 2016) evaluated with other memory sizes,
on training and on test characters.

The memory's slot count is not a parameter of the network (no weight depends on it), so a run trained with
128 slots can be read out with 64 or 256. Our LRUA write erases the least-used slot of every read head, so a
memory of S slots with R heads turns over in S / R steps (32 for 128 slots and 4 heads: shorter than a
50-step sequence); Santoro's text erases one slot per step (128 steps). Reports Santoro's instance accuracies
(1st, 2nd, 3rd, 4th, 5th and 10th presentation of a class) over the same sequences for every slot count.

    python benchmarks/mann_memory_size.py results/omniglot-mann-5class-20px-then-shift2-rot10-192k \\
        --slots 64 128 256 512 --out results/mann-memory-size.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from fastadapt.learners.mann import instance_accuracy
from fastadapt.tasks.sequence import omniglot_sequences
from fastadapt.train.trainer import git_commit, load_run, machine

INSTANCES = (1, 2, 3, 4, 5, 10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="MANN run folders")
    p.add_argument("--slots", type=int, nargs="+", default=[64, 128, 256, 512])
    p.add_argument("--parts", nargs="+", default=["train", "test"], choices=("train", "val", "test"))
    p.add_argument("--episodes", type=int, default=1000, help="sequences per score")
    p.add_argument("--out", default="results/mann-memory-size.json")
    a = p.parse_args()
    t, out = time.time(), {}
    with torch.no_grad():
        for run in a.runs:
            learner, cfg = load_run(run)
            if min(a.slots) < learner.heads:
                p.error(
                    f"--slots must be at least the number of read heads ({learner.heads}) of {run}, got {min(a.slots)}."
                )
            trained = learner.slots
            out[run] = {"trained_slots": trained}
            for part in a.parts:
                seqs = omniglot_sequences(cfg, part, cfg["ways"], 10, seed=cfg["eval_seed"])  # same for every size
                for slots in a.slots:
                    learner.slots = slots
                    r = instance_accuracy(learner, seqs, a.episodes, instances=INSTANCES)
                    out[run][f"{part}_slots{slots}"] = {str(k): 100 * r[str(k)]["accuracy"] for k in INSTANCES}
                    out[run][f"{part}_slots{slots}_ci95"] = {str(k): 100 * r[str(k)]["ci95"] for k in INSTANCES}
                    print(
                        f"{run} {part} {slots} slots: "
                        + " / ".join(f"{100 * r[str(k)]['accuracy']:.1f}" for k in INSTANCES),
                        flush=True,
                    )
            learner.slots = trained
    doc = {
        "command": "python " + " ".join(sys.argv),
        "commit": git_commit(),
        "machine": machine(),
        "wall_seconds": time.time() - t,
        "sequences_per_score": a.episodes,
        "instances": INSTANCES,
        "note": "accuracy (%) at the k-th presentation of a class (and its 95% CI over sequences); same "
        "sequences (the run's eval_seed) for every slot count",
        "results": out,
    }
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
