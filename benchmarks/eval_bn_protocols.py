"""Benchmark: how much of a paper's Omniglot number is its test protocol: BatchNorm's batch statistics.

The released code of the Relation Network (Sung et al., 2018) and of VERSA (Gordon et al., 2019) never puts
BatchNorm in inference mode: at test time the support set and the query set are each normalized with their
own batch statistics (transductive), and their test episodes hold as many queries per class as shots. This
re-tests trained run folders (Relation, VERSA, and ProtoNet as a control) on 1,000 standard test episodes of
that shape, once with BatchNorm's running averages (this library's protocol: each query on its own) and
once with batch statistics (``eval_bn=transductive``), and writes one JSON file, beside each run's number
under our own protocol (15 queries a class, running averages) from its benchmark record. (The Relation code
also keeps the checkpoint with the best *test* accuracy; that is not reproduced here.)

    python benchmarks/eval_bn_protocols.py results/omniglot-relation-5w1s-gpu7min results/omniglot-versa-5w1s
    python benchmarks/eval_bn_protocols.py results/omniglot-protonet-5w1s --episodes 20 --out /tmp/p.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from fastadapt.tasks import build_sampler
from fastadapt.train.evaluate import collect, summarize
from fastadapt.train.run_log import read_benchmark_record
from fastadapt.train.trainer import git_commit, load_run, machine

# Omniglot test accuracy (%) by (ways, shots), with its source.
PAPER = {
    "relation": ({(5, 1): 99.6, (5, 5): 99.8, (20, 1): 97.6, (20, 5): 99.1}, "Sung et al. 2018, Table 1"),
    "versa": ({(5, 1): 99.70, (5, 5): 99.75, (20, 1): 97.66, (20, 5): 98.77}, "Gordon et al. 2019, Table 2"),
    "protonet": ({(5, 1): 98.8, (5, 5): 99.7, (20, 1): 96.0, (20, 5): 98.9}, "Snell et al. 2017, Table 1"),
}


def our_protocol(run: Path, ways: int) -> float | None:
    """Accuracy (%) of ``run``'s model under our protocol at ``ways``, from the benchmark record beside it."""
    folder = run.parent / run.name.replace("-5w", f"-{ways}w", 1)
    try:
        doc = read_benchmark_record(folder)
    except FileNotFoundError:
        return None
    test = doc.get("test", doc)
    test = test.get("standard", test)
    return 100 * test["accuracy"] if "accuracy" in test else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders of the 5-way presets")
    p.add_argument("--episodes", type=int, default=1000)
    p.add_argument("--out", type=Path, default=Path("results/eval-bn-protocols.json"))
    a = p.parse_args()
    rows, start = [], time.time()
    for run in a.runs:
        learner, cfg = load_run(run)
        if cfg["method"] not in PAPER:
            raise SystemExit(f"{run} holds a {cfg['method']!r} model; this benchmark re-tests {sorted(PAPER)}.")
        paper, source = PAPER[cfg["method"]]
        shots = cfg["shots"]
        for ways in (5, 20):
            sampler = build_sampler(cfg, "test", ways, shots, shots, cfg["eval_seed"])
            row = {
                "run": str(run),
                "method": cfg["method"],
                "ways": ways,
                "shots": shots,
                "queries_per_class": shots,
                "paper": paper[(ways, shots)],
                "paper_source": source,
                "ours_15_queries_running": our_protocol(run, ways),
            }
            for bn in ("running", "transductive"):
                learner.set_eval_bn(bn)
                pred, labels, secs = collect(learner, sampler, a.episodes)
                r = summarize(pred, labels)
                row[bn] = {
                    "accuracy": 100 * r["accuracy"],
                    "ci95": 100 * r["ci95"],
                    "ece": r["ece"],
                    "nll": r["nll"],
                    "seconds": secs,
                }
            rows.append(row)
            print(
                f"{run.name} {ways}w{shots}s, {shots} queries/class: running {row['running']['accuracy']:.2f} "
                f"+- {row['running']['ci95']:.2f}, transductive {row['transductive']['accuracy']:.2f} +- "
                f"{row['transductive']['ci95']:.2f} (paper {paper[(ways, shots)]}; ours at 15 queries "
                f"{row['ours_15_queries_running']})",
                flush=True,
            )
    doc = {
        "command": "python " + " ".join(sys.argv),
        "commit": git_commit(),
        "machine": machine(),
        "seed": "each run's eval_seed (the test episodes of its other results)",
        "episodes": a.episodes,
        "wall_seconds": time.time() - start,
        "protocol": __doc__.split("\n\n")[1].replace("\n", " "),
        "rows": rows,
    }
    a.out.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
