"""Scaling of data-parallel meta-training: MAML (second order) on Omniglot 5-way 1-shot, meta-batch 32,
meta-iterations per second with 1 process and with N processes under torchrun (gloo), on this machine.

    python benchmarks/scaling.py --procs 2 [--steps 100]

Communication model: one all-reduce of the flat meta-gradient per step, i.e. (parameters x 4 bytes);
a ring all-reduce moves 2 (N-1)/N times that per rank. Compute per rank scales as meta_batch / N, so the
speed-up stays near-linear while a rank's share of tasks dominates the step time and cores are free.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch


def worker(steps: int, out: str) -> None:
    from fastadapt.configs import build_learner
    from fastadapt.presets import get_preset
    from fastadapt.tasks import build_sampler
    from fastadapt.train.backward import meta_backward
    from fastadapt.train.distributed import average_gradients, close_world, init_world, shard

    world, _ = init_world(torch.device("cpu"))
    cfg = get_preset("omniglot-maml-5w1s")
    torch.manual_seed(0)
    learner = build_learner(cfg)
    opt = torch.optim.Adam(learner.parameters(), 1e-3)
    sampler = build_sampler(cfg, "train", 5, 1, cfg["train_queries"], 0)
    times, comm = [], []
    for step in range(steps + 2):
        t = time.perf_counter()
        opt.zero_grad()
        meta_backward(learner, shard(sampler.batch(step, cfg["meta_batch"]), world))
        c = time.perf_counter()
        average_gradients(list(learner.parameters()), world)
        comm.append(time.perf_counter() - c)
        opt.step()
        times.append(time.perf_counter() - t)
    if world.is_main:
        n_params = sum(p.numel() for p in learner.parameters())
        Path(out).write_text(
            json.dumps(
                {
                    "median_seconds": statistics.median(times[2:]),
                    "p10_seconds": statistics.quantiles(times[2:], n=10)[0],
                    "p90_seconds": statistics.quantiles(times[2:], n=10)[-1],
                    "allreduce_median_seconds": statistics.median(comm[2:]),
                    "timed_iterations": steps,
                    "parameters": n_params,
                    "threads": torch.get_num_threads(),
                }
            )
        )
    close_world(world)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a.steps, a.worker)
    from fastadapt.train.trainer import git_commit, machine

    t0 = time.time()
    cores = os.cpu_count() or 1
    rows = {}
    # (processes, threads per process): one process using every core (what a user gets without torchrun),
    # one process on one core (the per-core baseline), and N processes sharing the cores.
    for n, threads in ((1, cores), (1, 1), (a.procs, max(1, cores // a.procs))):
        key = f"{n}x{threads}"
        out = f"/tmp/scaling-{key}.json"
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        cmd = (
            [sys.executable, __file__]
            if n == 1
            else [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={n}", __file__]
        )
        subprocess.run(cmd + ["--steps", str(a.steps), "--worker", out], env=env, check=True)
        rows[key] = dict(json.loads(Path(out).read_text()), processes=n)
    n = a.procs
    dist = rows[f"{n}x{max(1, cores // n)}"]
    per_core = rows["1x1"]["median_seconds"] / dist["median_seconds"]
    res = {
        "command": "python " + " ".join(sys.argv),
        "seed": 0,
        "commit": git_commit(),
        "machine": machine(),
        "workload": "MAML 2nd order, Omniglot 5w1s, Conv4, meta-batch 32, 1 inner step",
        "configurations": {
            k: {
                "processes": v["processes"],
                "threads_per_process": v["threads"],
                "seconds_per_iteration": v["median_seconds"],
                "iterations_per_second": 1 / v["median_seconds"],
                "p10_p90_seconds": [v["p10_seconds"], v["p90_seconds"]],
                "allreduce_seconds": v["allreduce_median_seconds"],
                "timed_iterations": v["timed_iterations"],
            }
            for k, v in rows.items()
        },
        "speedup_vs_one_process_all_cores": rows[f"1x{cores}"]["median_seconds"] / dist["median_seconds"],
        "speedup_vs_one_process_one_core": per_core,
        "efficiency_per_core": per_core / (n * max(1, cores // n)),
        "communication_bytes_per_step": dist["parameters"] * 4,
        "communication_model": "one all-reduce of parameters x 4 bytes per step; ring all-reduce sends "
        "2(N-1)/N of that per rank; measured all-reduce time is in allreduce_seconds",
        "gpu": "not measured: the session that ran this had no GPU lent",
        "wall_seconds": time.time() - t0,
    }
    Path("results/scaling.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
