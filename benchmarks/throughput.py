"""Throughput of the core pipeline on this machine: Omniglot preparation (first decode, cached load),
ProtoNet training and evaluation episodes per second, and the share of wall time spent outside the model
(episode sampling and collation). Writes results/throughput.json.

    python benchmarks/throughput.py [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from fastadapt.configs import build_learner
from fastadapt.cpu_memory import reuse_freed_memory
from fastadapt.presets import get_preset
from fastadapt.tasks import build_sampler
from fastadapt.tasks.omniglot import ARCHIVES, data_root, load_images
from fastadapt.train.backward import meta_backward
from fastadapt.train.evaluate import evaluate
from fastadapt.train.trainer import git_commit, machine


def prep_times() -> dict:
    src = data_root() / "omniglot"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "omniglot").mkdir()
        for name in ARCHIVES:
            shutil.copy(src / f"{name}.zip", Path(tmp) / "omniglot" / f"{name}.zip")
        t = time.perf_counter()
        load_images(tmp, download=False)
        first = time.perf_counter() - t
        t = time.perf_counter()
        load_images(tmp, download=False)
        cached = time.perf_counter() - t
    return {"first_decode_seconds": first, "cached_load_seconds": cached}


def train_times(shots: int, steps: int) -> dict:
    cfg = get_preset(f"omniglot-protonet-5w{shots}s")
    sampler = build_sampler(cfg, "train", cfg["train_ways"], shots, cfg["train_queries"], 0)
    torch.manual_seed(0)
    learner = build_learner(cfg)
    opt = torch.optim.Adam(learner.parameters(), 1e-3)
    outside = model = 0.0
    for i in range(steps + 5):
        t0 = time.perf_counter()
        batch = sampler.batch(i)
        t1 = time.perf_counter()
        opt.zero_grad()
        meta_backward(learner, batch)
        opt.step()
        t2 = time.perf_counter()
        if i >= 5:  # warm-up excluded
            outside, model = outside + t1 - t0, model + t2 - t1
    total = outside + model
    return {
        "train_episode": f"{cfg['train_ways']}-way {shots}-shot {cfg['train_queries']}-query",
        "train_episodes_per_second": steps / total,
        "seconds_per_step": total / steps,
        "share_outside_model": outside / total,
        "preset_steps": cfg["steps"],
        "preset_minutes_at_this_rate": cfg["steps"] * total / steps / 60,
    }


def eval_times(shots: int) -> dict:
    cfg = get_preset(f"omniglot-protonet-5w{shots}s")
    learner = build_learner(cfg)
    out = {}
    for ways in (5, 20):
        r = evaluate(learner, build_sampler(cfg, "test", ways, shots, 15, 1), 500)
        out[f"eval_{ways}w{shots}s_episodes_per_second"] = r["episodes_per_second"]
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--out", default="results/throughput.json")
    a = p.parse_args()
    t = time.time()
    reuse = reuse_freed_memory()  # as the trainer does on the CPU (FASTADAPT_REUSE_FREED_MEMORY=0: off)
    res = {
        "command": "python " + " ".join(sys.argv),
        "seed": 0,
        "commit": git_commit(),
        "machine": machine(),
        "torch_threads": torch.get_num_threads(),
        "reuse_freed_memory": reuse,
        **prep_times(),
    }
    for shots in (1, 5):
        res[f"{shots}shot"] = {**train_times(shots, a.steps), **eval_times(shots)}
    res["wall_seconds"] = time.time() - t
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
