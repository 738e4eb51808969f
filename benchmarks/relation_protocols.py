"""Benchmark: how much of the Relation Network's Omniglot number is its test protocol (Sung et al., 2018).

The paper's released code never calls ``eval()``: at test time BatchNorm normalizes the support set, the
query set and the (query, class) pairs with their own batch statistics (transductive), and its 1-shot test
episodes hold one query per class. This re-tests trained Relation run folders on the same 1,000 standard
test episodes with BatchNorm's running averages (this library's protocol: each query on its own) and with
batch statistics (``relation_bn=transductive``), with our 15 queries per class and with the paper's one
(1-shot) or five (5-shot), and writes one JSON file. (The released code also keeps the checkpoint with the
best *test* accuracy; that is not reproduced here.)

    python benchmarks/relation_protocols.py results/omniglot-relation-5w1s-gpu7min results/omniglot-relation-5w1s
    python benchmarks/relation_protocols.py results/omniglot-relation-5w1s --episodes 20 --out /tmp/p.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from fastadapt.tasks import build_sampler
from fastadapt.train.evaluate import collect, summarize
from fastadapt.train.trainer import git_commit, load_run, machine

PAPER = {(5, 1): 99.6, (5, 5): 99.8, (20, 1): 97.6, (20, 5): 99.1}   # Sung et al. 2018, Table 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="Relation Network run folders (their 5-way preset)")
    p.add_argument("--episodes", type=int, default=1000)
    p.add_argument("--out", type=Path, default=Path("results/relation-bn-protocols.json"))
    a = p.parse_args()
    rows, start = [], time.time()
    for run in a.runs:
        learner, cfg = load_run(run)
        if cfg["method"] != "relation":
            raise SystemExit(f"{run} holds a {cfg['method']!r} model; this benchmark re-tests Relation Networks.")
        shots = cfg["shots"]
        for ways in (5, 20):
            for queries in sorted({cfg["queries"], shots}):
                sampler = build_sampler(cfg, "test", ways, shots, queries, cfg["eval_seed"])
                for bn in ("running", "transductive"):
                    learner.bn = bn
                    pred, labels, secs = collect(learner, sampler, a.episodes)
                    r = summarize(pred, labels)
                    rows.append({"run": str(run), "ways": ways, "shots": shots, "queries_per_class": queries,
                                 "bn": bn, "accuracy": 100 * r["accuracy"], "ci95": 100 * r["ci95"],
                                 "ece": r["ece"], "nll": r["nll"], "paper": PAPER[(ways, shots)],
                                 "seconds": secs})
                    print(f"{run.name} {ways}w{shots}s q={queries} bn={bn}: {100 * r['accuracy']:.2f} +- "
                          f"{100 * r['ci95']:.2f} (paper {PAPER[(ways, shots)]}), ECE {r['ece']:.4f}", flush=True)
    doc = {"command": "python " + " ".join(sys.argv), "commit": git_commit(), "machine": machine(),
           "seed": "each run's eval_seed (the test episodes of the other Relation results)",
           "episodes": a.episodes, "wall_seconds": time.time() - start, "paper_source": "Sung et al. 2018, Table 1",
           "protocol": __doc__.split("\n\n")[1].replace("\n", " "), "rows": rows}
    a.out.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
