"""Benchmark: mini-ImageNet training steps on the CPU. (1) The share of a step spent on data (episode sampling from
the memory-mapped uint8 cache, conversion to floats, the batched augmentation) against the whole step (data +
meta-loss + backward + Adam), for the ProtoNet and pre-training-baseline presets; goal: data under 5% of a step.
(2) The ProtoNet step with the encoder in fp32 (channels-last, as the peers' best) against bf16 autocast.

    python benchmarks/natural_image_speed.py [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from fastadapt.configs import build_learner
from fastadapt.cpu_memory import reuse_freed_memory
from fastadapt.presets import get_preset
from fastadapt.tasks import build_sampler
from fastadapt.tasks.augment import augment_batch
from fastadapt.train.backward import meta_backward
from fastadapt.train.trainer import provenance


def measure(preset: str, steps: int, augment: str, precision: str = "bf16") -> dict:
    cfg = {**get_preset(preset), "augment": augment, "precision": precision}
    learner = build_learner(cfg).train()
    opt = torch.optim.Adam(learner.parameters(), lr=1e-3)
    sampler = build_sampler(cfg, "train", cfg["train_ways"], cfg["train_shots"], cfg["train_queries"], 0)
    if learner.global_labels:
        sampler.use_class_ids()
    data, total = [], []
    for step in range(steps + 2):
        t0 = time.perf_counter()
        batch = sampler.batch(step, cfg["meta_batch"])
        if augment:
            batch = augment_batch(batch, augment, torch.Generator().manual_seed(step))
        t1 = time.perf_counter()
        opt.zero_grad()
        meta_backward(learner, batch)
        opt.step()
        t2 = time.perf_counter()
        if step >= 2:
            data.append(t1 - t0)
            total.append(t2 - t0)
    d, t = statistics.median(data), statistics.median(total)
    images = batch.support_x.shape[1] + batch.query_x.shape[1]
    return {
        "preset": preset,
        "augment": augment,
        "precision": precision,
        "images_per_step": images * cfg["meta_batch"],
        "data_seconds": round(d, 4),
        "step_seconds": round(t, 4),
        "data_share": round(d / t, 4),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--out", default="results/natural_image_speed.json")
    a = p.parse_args()
    reuse_freed_memory()
    start = time.time()
    rows = [
        measure("mini-imagenet-protonet-5w5s", a.steps, ""),
        measure("mini-imagenet-protonet-5w5s", a.steps, "natural"),
        measure("mini-imagenet-baseline-5w5s", a.steps, "natural"),
        measure("mini-imagenet-protonet-5w5s", a.steps, "", "fp32"),
    ]
    for r in rows:
        print(r)
    out = {
        "benchmark": "mini-ImageNet training step: data share, and fp32 vs bf16 encoder (medians, one process)",
        "command": f"python benchmarks/natural_image_speed.py --steps {a.steps}",
        "rows": rows,
        "bf16_speedup": round(rows[3]["step_seconds"] / rows[0]["step_seconds"], 2),
        "goal_share": 0.05,
        **provenance(start),
    }
    Path(a.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
