"""Sinusoid regression (Finn, Abbeel & Levine 2017, section 5.1): each task is ``y = A sin(x - phase)`` with
amplitude ``A ~ U[0.1, 5]``, phase ``~ U[0, pi]``, inputs ``x ~ U[-5, 5]``; ``shots`` points to adapt on and
``queries`` points to evaluate. No observation noise."""

from __future__ import annotations

import math
from typing import Any

import torch

from . import DATASETS
from .task import TaskBatch

PART_OFFSET = {"train": 0, "val": 1, "test": 2}


class SinusoidTasks:
    """Sinusoid tasks; ``batch(i, B)`` is deterministic given ``seed``, the part and ``i``.
    ``task_params(i, B)`` gives the amplitudes and phases of that batch (for plots)."""

    ways = None

    def __init__(
        self,
        shots: int,
        queries: int,
        seed: int = 0,
        part: str = "train",
        amplitude: tuple[float, float] = (0.1, 5.0),
        phase: tuple[float, float] = (0.0, math.pi),
        x_range: tuple[float, float] = (-5.0, 5.0),
    ) -> None:
        if shots <= 0 or queries <= 0:
            raise ValueError(f"shots and queries must be positive, got shots={shots}, queries={queries}.")
        if part not in PART_OFFSET:
            raise ValueError(f"part must be one of {sorted(PART_OFFSET)}, got {part!r}.")
        self.shots, self.queries, self.seed, self.part = shots, queries, seed, part
        self.amplitude, self.phase, self.x_range = amplitude, phase, x_range

    def _generator(self, index: int) -> torch.Generator:
        return torch.Generator().manual_seed((self.seed * 1_000_003 + index) * 3 + PART_OFFSET[self.part])

    def task_params(self, index: int, batch_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        g = self._generator(index)
        amp = torch.empty(batch_size, 1, 1).uniform_(*self.amplitude, generator=g)
        phase = torch.empty(batch_size, 1, 1).uniform_(*self.phase, generator=g)
        return amp, phase

    def batch(self, index: int, batch_size: int = 1) -> TaskBatch:
        amp, phase = self.task_params(index, batch_size)
        g = self._generator(index)
        torch.empty(2 * batch_size).uniform_(generator=g)  # skip the draws task_params used
        x = torch.empty(batch_size, self.shots + self.queries, 1).uniform_(*self.x_range, generator=g)
        y = amp * torch.sin(x - phase)
        k = self.shots
        return TaskBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:], ways=None)


@DATASETS.register("sinusoid")
def sinusoid_sampler(
    cfg: dict[str, Any], part: str, ways: int | None, shots: int, queries: int, seed: int, within_group: bool = False
) -> SinusoidTasks:
    if ways is not None:
        raise ValueError(f"The sinusoid task family is regression; set ways=None (got ways={ways}).")
    return SinusoidTasks(shots, queries, seed=seed, part=part)
