"""Noiseless linear regression tasks for in-context learning (Garg, Tsipras, Liang & Valiant, 2022):
``x ~ N(0, I_d)``, ``w ~ N(0, I_d)``, ``y = w.x`` (optionally plus Gaussian noise), and the classical
estimators the paper compares a transformer with: least squares (minimum-norm below d examples), ridge,
k-nearest-neighbour averaging and plain averaging. Errors are normalized by ``d`` (the variance of y)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..seeding import seeded_generator
from . import DATASETS
from .task import TaskBatch

PART_OFFSET = {"train": 0, "val": 1, "test": 2}


class LinearRegressionTasks:
    """Task ``i`` of a part depends only on ``(seed, part, i)``. ``shots`` context examples, ``queries``
    query points; ``ways`` is ``None`` (regression)."""

    ways = None

    def __init__(self, dim: int, shots: int, queries: int, seed: int = 0, part: str = "train", noise: float = 0.0):
        if dim <= 0 or shots < 0 or queries <= 0:
            raise ValueError(
                f"linreg needs dim > 0, shots >= 0 and queries > 0; got dim={dim}, shots={shots}, queries={queries}."
            )
        if part not in PART_OFFSET:
            raise ValueError(f"part must be one of {sorted(PART_OFFSET)}, got {part!r}.")
        self.dim, self.shots, self.queries, self.noise = dim, shots, queries, noise
        self.seed = seed * 3 + PART_OFFSET[part]

    def batch(self, index: int, batch_size: int = 1) -> TaskBatch:
        g = seeded_generator(self.seed, index)
        n = self.shots + self.queries
        x = torch.randn(batch_size, n, self.dim, generator=g)
        w = torch.randn(batch_size, self.dim, generator=g)
        y = (x @ w.unsqueeze(-1)).squeeze(-1)
        if self.noise:
            y = y + self.noise * torch.randn(batch_size, n, generator=g)
        s = self.shots
        return TaskBatch(x[:, :s], y[:, :s], x[:, s:], y[:, s:], ways=None)


@DATASETS.register("linreg")
def linreg_sampler(
    cfg: dict[str, Any], part: str, ways: int | None, shots: int, queries: int, seed: int, within_group: bool = False
) -> LinearRegressionTasks:
    return LinearRegressionTasks(cfg["linreg_dim"], shots, queries, seed, part, cfg.get("linreg_noise", 0.0))


# --- Baselines (all batched over tasks: support [B, k, d], [B, k]; queries [B, m, d]) -----------------


def least_squares(sx: Tensor, sy: Tensor, qx: Tensor) -> Tensor:
    """Ordinary least squares; the minimum-norm solution when there are fewer examples than dimensions
    (Garg 2022). With no examples it predicts 0."""
    if sx.shape[1] == 0:
        return qx.new_zeros(qx.shape[:2])
    w = torch.linalg.pinv(sx.double()) @ sy.double().unsqueeze(-1)
    return (qx.double() @ w).squeeze(-1).to(qx.dtype)


def ridge(sx: Tensor, sy: Tensor, qx: Tensor, lam: float = 0.1) -> Tensor:
    """Ridge regression ``w = (X^T X + lam I)^-1 X^T y``."""
    d = sx.shape[-1]
    a = sx.double().transpose(1, 2) @ sx.double() + lam * torch.eye(d, dtype=torch.float64)
    w = torch.linalg.solve(a, sx.double().transpose(1, 2) @ sy.double().unsqueeze(-1))
    return (qx.double() @ w).squeeze(-1).to(qx.dtype)


def nearest_neighbours(sx: Tensor, sy: Tensor, qx: Tensor, k: int = 3) -> Tensor:
    """Average label of the ``k`` nearest support points (Garg's 3-NN baseline); 0 with no examples."""
    if sx.shape[1] == 0:
        return qx.new_zeros(qx.shape[:2])
    k = min(k, sx.shape[1])
    idx = torch.cdist(qx, sx).topk(k, dim=-1, largest=False).indices  # [B, m, k]
    return sy.unsqueeze(1).expand(-1, qx.shape[1], -1).gather(2, idx).mean(-1)


def averaging(sx: Tensor, sy: Tensor, qx: Tensor) -> Tensor:
    """Garg's averaging estimator: ``w = mean(y_i x_i)``."""
    if sx.shape[1] == 0:
        return qx.new_zeros(qx.shape[:2])
    w = (sy.unsqueeze(-1) * sx).mean(1, keepdim=True)
    return (qx * w).sum(-1)


BASELINES = {"least_squares": least_squares, "ridge": ridge, "3-nn": nearest_neighbours, "averaging": averaging}
