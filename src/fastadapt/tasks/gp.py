"""1-D regression tasks drawn from a Gaussian-process prior (Garnelo et al., 2018a/b), and the exact GP
posterior as an oracle: the log-likelihood the true model achieves on the same targets.

Following Garnelo et al.'s data generator: inputs ``x ~ U(-2, 2)``, an exponentiated-quadratic (EQ) kernel
with length-scale 0.4 and scale 1.0, observations with Gaussian noise of standard deviation 0.02.
Matern-5/2 and periodic kernels are options.

Context / target counts. Tensors in a `TaskBatch` have equal shapes, so every task of a batch shares its
context count and its target count; the counts are drawn afresh for every batch (``shots="3-50"`` draws
the context count uniformly from 3..50 per batch; an integer fixes it). Context and target points are
disjoint draws from the same function; a learner that wants to train on the context too (Garnelo et al.
decode context and targets) concatenates them itself. Batch ``i`` depends only on ``(seed, part, i)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from . import DATASETS
from .task import TaskBatch

KERNELS = ("eq", "matern52", "periodic")
PARTS = {"train": 0, "val": 1, "test": 2}


def _usable(v: float) -> bool:
    """A positive length, scale or noise whose square is a positive finite float (1e200 and 1e-170 are not)."""
    return isinstance(v, (int, float)) and math.isfinite(v) and 0 < v * v < math.inf


@dataclass(frozen=True)
class Kernel:
    """A stationary covariance ``k(x, x')`` on 1-D inputs.

    ``eq``: ``s^2 exp(-d^2 / (2 l^2))``; ``matern52``: ``s^2 (1 + r + r^2/3) exp(-r)`` with
    ``r = sqrt(5) d / l``; ``periodic``: ``s^2 exp(-2 sin^2(pi d / p) / l^2)`` (MacKay, 1998).
    """

    name: str = "eq"
    length_scale: float = 0.4
    scale: float = 1.0
    period: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in KERNELS:
            raise ValueError(f"Unknown GP kernel {self.name!r}; choose one of {KERNELS}.")
        if not all(_usable(v) for v in (self.length_scale, self.scale, self.period)):
            raise ValueError(
                f"Kernel length_scale, scale and period (gp_length_scale, gp_scale, gp_period) must be "
                f"positive numbers whose squares neither overflow nor vanish in float64, got "
                f"{self.length_scale}, {self.scale}, {self.period}."
            )

    def __call__(self, x1: Tensor, x2: Tensor) -> Tensor:
        """Covariance matrix ``[..., N, M]`` of inputs ``x1 [..., N, 1]`` and ``x2 [..., M, 1]``."""
        d = (x1 - x2.transpose(-1, -2)).abs()
        s2 = self.scale * self.scale
        if self.name == "eq":
            return s2 * torch.exp(-0.5 * (d / self.length_scale) ** 2)
        if self.name == "matern52":
            r = math.sqrt(5.0) * d / self.length_scale
            return s2 * (1 + r + r**2 / 3) * torch.exp(-r)
        return s2 * torch.exp(-2 * torch.sin(math.pi * d / self.period) ** 2 / self.length_scale**2)


def gp_posterior(
    kernel: Kernel, noise: float, context_x: Tensor, context_y: Tensor, target_x: Tensor
) -> tuple[Tensor, Tensor]:
    """Exact GP posterior predictive of noisy targets (Rasmussen & Williams 2006, eq. 2.22-2.24):
    mean ``[..., T]`` and covariance ``[..., T, T]`` of ``y_T | (x_C, y_C), x_T``, in float64.

    Shapes: ``context_x``/``context_y`` ``[..., C, 1]``, ``target_x`` ``[..., T, 1]``."""
    xc, yc, xt = context_x.double(), context_y.double(), target_x.double()
    eye_c = torch.eye(xc.shape[-2], dtype=torch.float64)
    eye_t = torch.eye(xt.shape[-2], dtype=torch.float64)
    kcc = kernel(xc, xc) + noise**2 * eye_c
    ktc = kernel(xt, xc)
    ktt = kernel(xt, xt) + noise**2 * eye_t
    chol = torch.linalg.cholesky(kcc)
    a = torch.cholesky_solve(yc, chol)  # K_cc^-1 y_c   [..., C, 1]
    v = torch.linalg.solve_triangular(chol, ktc.transpose(-1, -2), upper=False)  # L^-1 K_ct
    mean = (ktc @ a).squeeze(-1)
    cov = ktt - v.transpose(-1, -2) @ v
    return mean, cov


def oracle_log_likelihood(
    kernel: Kernel, noise: float, context_x: Tensor, context_y: Tensor, target_x: Tensor, target_y: Tensor
) -> tuple[Tensor, Tensor]:
    """Per-task log-likelihood of the targets under the true GP given the context, divided by the number
    of targets: ``(joint, marginal)``, each ``[...]``. ``joint`` is ``log p(y_T | C) / T``; ``marginal`` is
    ``sum_t log p(y_t | C) / T``, the quantity a factorized predictor (a CNP) is compared with."""
    mean, cov = gp_posterior(kernel, noise, context_x, context_y, target_x)
    y = target_y.double().squeeze(-1)
    t = y.shape[-1]
    chol = torch.linalg.cholesky(cov)
    z = torch.linalg.solve_triangular(chol, (y - mean).unsqueeze(-1), upper=False).squeeze(-1)
    joint = (
        -0.5 * (z**2).sum(-1)
        - torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        - 0.5 * t * math.log(2 * math.pi)
    )
    var = torch.diagonal(cov, dim1=-2, dim2=-1)
    marg = -0.5 * (torch.log(2 * math.pi * var) + (y - mean) ** 2 / var)
    return joint / t, marg.mean(-1)


def parse_count(value: Any, name: str) -> tuple[int, int]:
    """``10`` -> (10, 10); ``"3-50"`` -> (3, 50) (inclusive range drawn per batch)."""
    if isinstance(value, int) and not isinstance(value, bool):
        lo = hi = value
    elif isinstance(value, str):
        try:
            parts = [int(p) for p in value.split("-")]
        except ValueError:
            parts = []
        if len(parts) not in (1, 2):
            raise ValueError(f"GP {name} must be an integer or a range 'LO-HI' like '3-50', got {value!r}.")
        lo, hi = parts[0], parts[-1]
    else:
        raise ValueError(f"GP {name} must be an integer or a range 'LO-HI' like '3-50', got {value!r}.")
    if not 1 <= lo <= hi:
        raise ValueError(f"GP {name} range must satisfy 1 <= LO <= HI, got {value!r}.")
    return lo, hi


class GPTasks:
    """Seeded sampler of 1-D GP regression tasks (see the module docstring).

    ``batch(i, B)`` returns a `TaskBatch` with ``support_x``/``support_y`` ``[B, C, 1]`` (context) and
    ``query_x``/``query_y`` ``[B, T, 1]`` (targets), ``ways=None``. The counts of batch ``i`` are a function of
    ``(seed, part, i)`` only (`counts`).
    """

    ways = None

    def __init__(
        self,
        kernel: Kernel | None = None,
        noise: float = 0.02,
        context: Any = "3-50",
        targets: Any = 50,
        x_range: tuple[float, float] = (-2.0, 2.0),
        seed: int = 0,
        part: str = "train",
    ) -> None:
        if part not in PARTS:
            raise ValueError(f"part must be one of {sorted(PARTS)}, got {part!r}.")
        if not _usable(noise):
            raise ValueError(
                f"GP observation noise must be positive (gp_noise; it keeps the Cholesky stable) and "
                f"its square finite, got {noise}."
            )
        if not x_range[0] < x_range[1]:
            raise ValueError(f"x_range must be (low, high) with low < high, got {x_range}.")
        self.kernel = kernel or Kernel()
        self.noise, self.x_range, self.seed, self.part = noise, x_range, seed, part
        self.context, self.targets = (
            parse_count(context, "context count (shots)"),
            parse_count(targets, "target count (queries)"),
        )
        self.shots, self.queries = context, targets

    def _generator(self, index: int) -> torch.Generator:
        return torch.Generator().manual_seed(
            (self.seed * 1_000_003 + PARTS[self.part] * 7_919_003 + index) % (2**63 - 1)
        )

    def counts(self, index: int, g: torch.Generator | None = None) -> tuple[int, int]:
        """Context and target counts of batch ``index``."""
        g = self._generator(index) if g is None else g
        c = int(torch.randint(self.context[0], self.context[1] + 1, (1,), generator=g))
        t = int(torch.randint(self.targets[0], self.targets[1] + 1, (1,), generator=g))
        return c, t

    def batch(self, index: int, batch_size: int = 1) -> TaskBatch:
        """The ``index``-th batch of ``batch_size`` functions (deterministic given seed and part)."""
        g = self._generator(index)
        c, t = self.counts(index, g)
        lo, hi = self.x_range
        x = lo + (hi - lo) * torch.rand(batch_size, c + t, 1, generator=g, dtype=torch.float64)
        cov = self.kernel(x, x) + self.noise**2 * torch.eye(c + t, dtype=torch.float64)
        z = torch.randn(batch_size, c + t, 1, generator=g, dtype=torch.float64)
        chol, info = torch.linalg.cholesky_ex(cov)
        if info.any():
            raise ValueError(
                f"The covariance of GP batch {index} is not positive-definite in float64 ({self.kernel}, "
                f"noise {self.noise}): the observation noise is too small for this kernel. Raise "
                f"gp_noise (the gp-* presets use 0.02)."
            )
        y = (chol @ z).float()
        x = x.float()
        return TaskBatch(x[:, :c], y[:, :c], x[:, c:], y[:, c:], ways=None)

    def oracle(self, batch: TaskBatch) -> tuple[Tensor, Tensor]:
        """Per-task (joint, marginal) oracle log-likelihood per target point of ``batch`` (`oracle_log_likelihood`)."""
        return oracle_log_likelihood(
            self.kernel, self.noise, batch.support_x, batch.support_y, batch.query_x, batch.query_y
        )


def kernel_from_config(cfg: dict[str, Any]) -> Kernel:
    return Kernel(
        cfg.get("gp_kernel", "eq"),
        float(cfg.get("gp_length_scale", 0.4)),
        float(cfg.get("gp_scale", 1.0)),
        float(cfg.get("gp_period", 1.0)),
    )


@DATASETS.register("gp")
def gp_sampler(
    cfg: dict[str, Any], part: str, ways: Any, shots: Any, queries: Any, seed: int, within_group: bool = False
) -> GPTasks:
    """Task family ``"gp"``: ``shots`` is the context count (int or ``"LO-HI"``), ``queries`` the target
    count; kernel from ``gp_kernel``/``gp_length_scale``/``gp_scale``/``gp_period``, noise ``gp_noise``."""
    if ways is not None:
        raise ValueError(
            f"GP regression tasks have no classes: ways must be None, got {ways!r}. "
            f"Set ways=None and train_ways=None (the gp-* presets do)."
        )
    if within_group:
        raise ValueError("within_group (one alphabet per episode) applies to Omniglot, not to GP tasks.")
    return GPTasks(
        kernel_from_config(cfg),
        float(cfg.get("gp_noise", 0.02)),
        shots,
        queries,
        (float(cfg.get("gp_x_min", -2.0)), float(cfg.get("gp_x_max", 2.0))),
        seed,
        part,
    )
