"""Benchmark: adaptation latency per task of trained learners, side by side (issue 6).

Loads trained run folders (default: the 5-way 1-shot ProtoNet, hypernetwork and LSTM learner of
`benchmarks/blackbox_omniglot.py` and the MAML model of `benchmarks/maml_omniglot.py`, which adapts with its
test-time inner steps) and times `learner.adapt` on one test task at a time
(`fastadapt.train.evaluate.adaptation_latency_ms`). The learners take turns in rounds, so background load or
frequency changes hit all of them alike; each round reports a median over its tasks, and the result is the median
over rounds. Repeated for each thread count.

Goal (issue 6): the forward-pass learners adapt at least 10x faster than MAML.

    python benchmarks/latency.py                          # 1 and 2 threads, 10 rounds of 20 tasks
    python benchmarks/latency.py --rounds 2 --tasks 5     # smoke test
    python benchmarks/latency.py --rounds 20 --out results/adaptation_latency_20w.json \
        --run protonet=results/blackbox-omniglot-protonet-20w1s \
        --run hypernet=results/blackbox-omniglot-hypernet-20w1s \
        --run lstm=results/blackbox-omniglot-lstm-20w1s-cosine-lr0.03 --run maml=results/omniglot-maml-20w1s-gpu2.5min
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from fastadapt.tasks import build_sampler
from fastadapt.train.evaluate import adaptation_latency_ms
from fastadapt.train.trainer import git_commit, load_run, machine

RUNS = {
    "protonet": "results/blackbox-omniglot-protonet-5w1s",
    "hypernet": "results/blackbox-omniglot-hypernet-5w1s",
    "lstm": "results/blackbox-omniglot-lstm-5w1s-cosine-lr0.1",
    "maml": "results/omniglot-maml-5w1s-cpu30min",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="NAME=FOLDER",
        help=f"a learner to time (repeatable; default {RUNS}); one must be named maml",
    )
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--tasks", type=int, default=20, help="tasks per learner and round")
    p.add_argument("--out", default="results/adaptation_latency.json")
    a = p.parse_args()
    runs = dict(r.split("=", 1) for r in a.run) if a.run else RUNS
    if "maml" not in runs:
        p.error("name one run maml (the reference the speed-ups are taken against), e.g. --run maml=results/...")
    t0 = time.time()
    learners = {}
    for name, folder in runs.items():
        learner, cfg = load_run(folder, device="cpu")
        learners[name] = (
            learner,
            build_sampler(cfg, "test", cfg["ways"], cfg["shots"], cfg["queries"], cfg["eval_seed"]),
        )
    by_threads = {}
    for threads in a.threads:
        torch.set_num_threads(threads)
        medians: dict[str, list[float]] = {name: [] for name in learners}
        for _ in range(a.rounds):
            for name, (learner, sampler) in learners.items():
                medians[name].append(adaptation_latency_ms(learner, sampler, a.tasks, warmup=2)["adapt_ms"])
        ms = {name: statistics.median(v) for name, v in medians.items()}
        by_threads[str(threads)] = {
            name: {"adapt_ms": ms[name], "round_medians_ms": medians[name], "speedup_vs_maml": ms["maml"] / ms[name]}
            for name in learners
        }
        print(
            f"{threads} thread(s): "
            + ", ".join(f"{n} {ms[n]:.2f} ms ({ms['maml'] / ms[n]:.1f}x vs MAML)" for n in learners),
            flush=True,
        )
    doc = {
        "command": "python " + " ".join(sys.argv),
        "seed": None,
        "commit": git_commit(),
        "machine": machine(),
        "wall_seconds": time.time() - t0,
        "runs": runs,
        "rounds": a.rounds,
        "tasks_per_round": a.tasks,
        "maml_adapt_steps": getattr(learners["maml"][0], "test_inner_steps", None),
        "results": by_threads,
        "goal": "forward-pass learners adapt >= 10x faster than MAML (issue 6)",
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(doc, indent=1))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
