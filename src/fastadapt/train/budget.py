"""Time budgets: how many training steps of a config fit a wall-clock budget on this machine.

The benchmarks train "for N minutes" by measuring a few real steps first and then fixing the step count,
so the trainer's schedule (learning-rate decay, checkpoints, resumption) stays deterministic.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from ..configs import build_learner, from_dict
from ..configs.run import TrainConfig
from ..cpu_memory import reuse_freed_memory
from .distributed import World
from .evaluate import synchronize
from .trainer import EpisodeObjective, resolve_device, with_precision


def seconds_per_step(cfg: dict[str, Any], warmup: int = 2, timed: int = 5) -> float:
    """Median wall time of one meta-training step of ``cfg`` (`EpisodeObjective.step`: sampling the episodes,
    meta-loss, backward, Adam step), measured on a throwaway learner after ``warmup`` untimed steps."""
    if timed < 1 or warmup < 0:
        raise ValueError(f"need timed >= 1 and warmup >= 0 steps, got timed={timed}, warmup={warmup}.")
    torch.manual_seed(cfg["seed"])
    device = resolve_device(cfg["device"])
    cfg = with_precision(cfg, device)  # timed in the precision the trainer would pick
    if device.type == "cpu":
        reuse_freed_memory()  # timed as the trainer will run (fastadapt.cpu_memory)
    learner = build_learner(cfg).to(device).train()
    objective = EpisodeObjective(learner, cfg, from_dict(TrainConfig, cfg), World(), device)
    opt = torch.optim.Adam(objective.param_groups(), lr=cfg["lr"])
    times = []
    for i in range(warmup + timed):
        synchronize(device)
        start = time.perf_counter()
        objective.step(i, opt)  # the trainer's own step: episodes, meta-loss, backward, Adam
        synchronize(device)
        times.append(time.perf_counter() - start)
    return sorted(times[warmup:])[timed // 2]


def steps_for_budget(
    cfg: dict[str, Any], budget_s: float, fraction: float = 0.8, multiple: int = 1, minimum: int = 10, timed: int = 5
) -> tuple[int, float]:
    """(steps, measured seconds per step): the steps of ``cfg`` that fill ``fraction`` of ``budget_s`` (the
    rest is left for validation passes, checkpoints and steps slower than the measured ones), rounded down
    to a multiple of ``multiple`` and at least ``minimum``; the step time is the median of ``timed`` steps."""
    if budget_s <= 0 or not 0 < fraction <= 1:
        raise ValueError(f"need a positive budget and 0 < fraction <= 1, got {budget_s} s and {fraction}.")
    step_s = seconds_per_step(cfg, timed=timed)
    steps = int(fraction * budget_s / step_s) // multiple * multiple
    return max(minimum, steps), step_s
