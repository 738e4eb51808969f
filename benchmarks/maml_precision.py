"""Benchmark (issue #33): second-order MAML with the network in bf16 autocast against fp32, on the committed
Omniglot preset (`omniglot-maml-5w1s`: Conv4, 5-way 1-shot, meta-batch 32, one inner step). (1) The time of a
meta-iteration (meta-loss, backward, Adam step; median after two warm-up iterations) in each precision. (2) How
far the bf16 meta-gradient is from the exact one (float64) on real Omniglot tasks, at initialization and after
the fp32 model has trained a little: relative error and cosine, beside the same numbers for first-order MAML
and for the task-sampling noise of the meta-batch (the gradient of a second, disjoint meta-batch).

    python benchmarks/maml_precision.py [--steps 10] [--warm 100]
    python benchmarks/maml_precision.py --speed-only --batching loop vmap --out results/maml_precision_batching.json

``--speed-only`` measures (1) alone, for each ``--batching`` (``loop`` runs the tasks one after the other; ``vmap``
runs them in one batched call, whose convolutions are larger and grouped by task; ``auto`` picks by task size, see
benchmarks/maml_batching.py).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from fastadapt.configs import build_learner
from fastadapt.cpu_memory import reuse_freed_memory
from fastadapt.presets import get_preset
from fastadapt.tasks import build_sampler
from fastadapt.train.backward import meta_backward
from fastadapt.train.trainer import provenance

PRESET = "omniglot-maml-5w1s"


def config(precision: str, batching: str = "auto", preset: str = PRESET) -> dict:
    return {**get_preset(preset), "precision": precision, "batching": batching}


def seconds_per_iteration(
    precision: str, steps: int, batching: str = "auto", preset: str = PRESET, warmup: int = 2
) -> float:
    """Median seconds of a meta-iteration (`meta_backward` and an Adam step) over ``steps`` of the preset's training
    meta-batches, after ``warmup`` untimed ones."""
    cfg = config(precision, batching, preset)
    torch.manual_seed(0)
    learner = build_learner(cfg).train()
    opt = torch.optim.Adam(learner.parameters(), lr=cfg["lr"])
    sampler = build_sampler(cfg, "train", cfg["train_ways"], cfg["train_shots"], cfg["train_queries"], 0)
    times = []
    for step in range(steps + warmup):
        batch = sampler.batch(step, cfg["meta_batch"])
        t0 = time.perf_counter()
        opt.zero_grad()
        meta_backward(learner, batch)
        opt.step()
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def meta_gradient(learner, batch) -> torch.Tensor:
    learner.zero_grad()
    meta_backward(learner, batch)
    return torch.cat([p.grad.reshape(-1) for p in learner.parameters()]).double()


def in_float64(batch):
    return replace(batch, support_x=batch.support_x.double(), query_x=batch.query_x.double())


def agreement(learner, sampler, tasks: int) -> dict:
    """bf16 and first-order meta-gradients against the float64 one, on one meta-batch of ``tasks`` tasks."""
    a, b = sampler.batch(10_000, tasks), sampler.batch(10_001, tasks)
    exact_learner = copy.deepcopy(learner).double()
    exact = meta_gradient(exact_learner, in_float64(a))
    other = meta_gradient(exact_learner, in_float64(b))
    mixed = copy.deepcopy(learner)
    mixed.set_precision("bf16")
    first = copy.deepcopy(learner)
    first.first_order = True
    out = {"exact_norm": exact.norm().item()}
    for name, g in (
        ("bf16", meta_gradient(mixed, a)),
        ("fp32", meta_gradient(learner, a)),
        ("first_order_fp32", meta_gradient(first, a)),
        ("other_meta_batch", other),
    ):
        out[name] = {
            "relative_error": round(((g - exact).norm() / exact.norm()).item(), 5),
            "cosine": round(torch.nn.functional.cosine_similarity(g, exact, dim=0).item(), 5),
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warm", type=int, default=100, help="fp32 meta-iterations before the second comparison")
    p.add_argument("--tasks", type=int, default=8, help="meta-batch of the gradient comparison")
    p.add_argument("--out", default="results/maml_precision.json")
    p.add_argument("--speed-only", action="store_true", help="only the time per meta-iteration, per --batching")
    p.add_argument("--batching", nargs="+", default=["auto"], choices=("auto", "loop", "vmap"))
    a = p.parse_args()
    reuse_freed_memory()
    start = time.time()
    if a.speed_only:
        speed = {
            f"{batching} {prec}": round(seconds_per_iteration(prec, a.steps, batching), 3)
            for batching in a.batching
            for prec in ("fp32", "bf16")
        }
        print("seconds per meta-iteration", speed, flush=True)
        out = {
            "benchmark": "second-order MAML (omniglot-maml-5w1s): time per meta-iteration, task batching x precision",
            "command": f"python benchmarks/maml_precision.py --speed-only --steps {a.steps} --batching "
            + " ".join(a.batching),
            "preset": PRESET,
            "seconds_per_meta_iteration": speed,
            "seed": 0,
            **provenance(start),
        }
        Path(a.out).write_text(json.dumps(out, indent=1))
        return
    speed = {prec: round(seconds_per_iteration(prec, a.steps), 3) for prec in ("fp32", "bf16")}
    print("seconds per meta-iteration", speed, flush=True)
    cfg = config("fp32")
    torch.manual_seed(0)
    learner = build_learner(cfg).train()
    sampler = build_sampler(cfg, "train", cfg["train_ways"], cfg["train_shots"], cfg["train_queries"], 1)
    grads = {"initialization": agreement(learner, sampler, a.tasks)}
    print(grads, flush=True)
    opt = torch.optim.Adam(learner.parameters(), lr=cfg["lr"])
    for step in range(a.warm):
        opt.zero_grad()
        meta_backward(learner, sampler.batch(step, cfg["meta_batch"]))
        opt.step()
    grads[f"after {a.warm} fp32 meta-iterations"] = agreement(learner, sampler, a.tasks)
    print(grads, flush=True)
    out = {
        "benchmark": "second-order MAML (omniglot-maml-5w1s): bf16 autocast against fp32, speed and meta-gradient",
        "command": f"python benchmarks/maml_precision.py --steps {a.steps} --warm {a.warm} --tasks {a.tasks}",
        "preset": PRESET,
        "seconds_per_meta_iteration": speed,
        "bf16_speedup": round(speed["fp32"] / speed["bf16"], 2),
        "meta_gradient_vs_float64": grads,
        "seed": 0,
        **provenance(start),
    }
    Path(a.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
