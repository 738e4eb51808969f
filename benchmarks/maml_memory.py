"""Benchmark: peak memory and time of a MAML meta-iteration against the number of inner steps, second order
versus the first-order remedy (Finn 2017, section 5.2), on Omniglot 5-way 1-shot shapes (Conv4 + linear,
5 support + 75 query images per task). Second-order memory grows with the inner steps because the graph of
every inner step is kept for the meta-gradient; first order keeps only the last step's. Each configuration
runs in a fresh process and reports its peak RSS (``ru_maxrss``) above the process's RSS before the first
iteration.

    python benchmarks/maml_memory.py --threads 2                            # ~10 min on 2 idle cores
    python benchmarks/maml_memory.py --tasks 2 --steps 1 2 --out /tmp/m.json   # smoke test
    # vmap over the meta-batch, whole or back-propagated in chunks of tasks (GradientLearner's task_chunk)
    python benchmarks/maml_memory.py --tasks 32 --steps 1 5 --batching vmap --task-chunk 0 8 4 \
        --out results/maml_memory_vmap_chunks.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


def worker(a) -> None:
    import torch
    from torch import nn

    sys.path.insert(0, str(Path(__file__).parent))
    import peers_maml as pm

    from fastadapt import MAML
    from fastadapt.tasks import TaskBatch
    from fastadapt.train.backward import meta_backward

    torch.set_num_threads(a.threads)
    sx, sy, qx, qy = pm.data(torch, 0)
    batch = TaskBatch(sx[: a.tasks], sy[: a.tasks], qx[: a.tasks], qy[: a.tasks], pm.WAYS)
    learner = MAML(
        pm.build(torch, nn),
        inner_lr=0.1,
        inner_steps=a.inner,
        first_order=a.order == "first",
        batching=a.batching,
        task_chunk=a.chunk or None,
    )
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(2):
        t = time.perf_counter()
        meta_backward(learner, batch)
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"seconds": min(times), "peak_rss_mb": peak, "rss_before_mb": base, "peak_above_start_mb": peak - base}
        )
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", nargs="+", type=int, default=[1, 2, 5, 10])
    p.add_argument("--tasks", type=int, default=8, help="meta-batch size (tasks)")
    p.add_argument("--batching", default="loop", choices=("loop", "vmap"))
    p.add_argument(
        "--task-chunk",
        type=int,
        nargs="+",
        default=[0],
        help="tasks back-propagated at a time under vmap (0: the whole meta-batch); one run per value",
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="results/maml_memory.json")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--inner", type=int, help=argparse.SUPPRESS)
    p.add_argument("--order", help=argparse.SUPPRESS)
    p.add_argument("--chunk", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a)
    import torch

    rows, t0 = [], time.time()
    for steps in a.steps:
        for order in ("second", "first"):
            for chunk in a.task_chunk:
                cmd = [
                    sys.executable,
                    __file__,
                    "--worker",
                    "--inner",
                    str(steps),
                    "--order",
                    order,
                    "--tasks",
                    str(a.tasks),
                    "--batching",
                    a.batching,
                    "--threads",
                    str(a.threads),
                    "--chunk",
                    str(chunk),
                ]
                env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
                out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
                row = {
                    "inner_steps": steps,
                    "order": order,
                    "task_chunk": chunk or a.tasks,
                    **json.loads(out.strip().splitlines()[-1]),
                }
                rows.append(row)
                print(
                    f"{steps:>2} steps {order:>6} order, chunks of {chunk or a.tasks:>2} tasks: "
                    f"{row['seconds']:.2f} s, "
                    f"peak +{row['peak_above_start_mb']:.0f} MB",
                    flush=True,
                )
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    doc = {
        "command": "python " + " ".join(sys.argv),
        "seed": 0,
        "commit": commit,
        "machine": f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, {a.threads} threads",
        "wall_seconds": time.time() - t0,
        "workload": f"{a.tasks} tasks x (5 support + 75 query) 1x28x28, Conv4 + linear, batching={a.batching}",
        "remedy": "first_order=True (Finn 2017)",
        "rows": rows,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
