"""Predictive uncertainty: entropy of class predictions, per-point predictive variance, Gaussian
log-likelihood and central-interval coverage for regression, and plots of GP regression fits (bands and
function samples against the exact-GP oracle). Classification calibration (NLL, ECE, reliability diagrams)
lives in `calibration.py`."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..learners.base import Prediction
from ..nn.modes import evaluating

LEVELS = (0.5, 0.9, 0.95)


def predictive_entropy(probs: Tensor) -> Tensor:
    """Entropy ``-sum_c p_c log p_c`` (nats) of each predictive distribution ``[..., C] -> [...]``."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(-1)


def predictive_variance(pred: Prediction) -> Tensor:
    """Per-point predictive variance of a regression prediction (``[..., T, dy]``)."""
    if pred.var is None:
        raise ValueError(
            "This prediction carries no variance (a point predictor such as MAML without a "
            "noise model); per-point uncertainty needs a learner that predicts a variance."
        )
    return pred.var


def gaussian_log_likelihood(mean: Tensor, var: Tensor, y: Tensor) -> Tensor:
    """Elementwise ``log N(y; mean, var)``."""
    return -0.5 * (torch.log(2 * math.pi * var) + (y - mean) ** 2 / var)


def interval_coverage(mean: Tensor, var: Tensor, y: Tensor, levels: Sequence[float] = LEVELS) -> dict[str, float]:
    """Fraction of targets inside the central ``level`` interval of each Gaussian marginal
    (``mean +- z_{(1+level)/2} sqrt(var)``), per level; keys like ``"90"``. A calibrated predictor covers
    ``level`` of the targets."""
    for lv in levels:
        if not 0 < lv < 1:
            raise ValueError(f"Interval levels must lie in (0, 1), got {lv}.")
    dev = ((y - mean).abs() / var.sqrt()).double()
    normal = torch.distributions.Normal(0.0, 1.0)
    return {
        f"{round(100 * lv):d}": float((dev <= normal.icdf(torch.tensor((1 + lv) / 2))).double().mean()) for lv in levels
    }


def regression_report(pred: Prediction, y: Tensor, levels: Sequence[float] = LEVELS) -> dict[str, Any]:
    """Mean log-likelihood per point, mean predictive variance and interval coverage of a regression prediction."""
    var = predictive_variance(pred)
    ll = gaussian_log_likelihood(pred.mean.double(), var.double(), y.double())
    return {
        "log_likelihood": float(ll.mean()),
        "mean_variance": float(var.double().mean()),
        "coverage": interval_coverage(pred.mean, var, y, levels),
    }


def plot_gp_fits(
    path: str | os.PathLike,
    learner: Any,
    tasks: Sequence[Any],
    kernel: Any,
    noise: float,
    samples: int = 8,
    grid: Tensor | None = None,
    title: str = "",
) -> None:
    """One panel per task: context points, hidden targets, the model's mean with a 95% band, function
    samples when the predictor draws them (latent NPs), and the exact GP posterior (oracle) mean and band.
    ``tasks``: `Task` objects with ``[C, 1]`` context and ``[T, 1]`` targets; ``kernel``/``noise`` of the true GP."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..tasks.gp import gp_posterior

    grid = torch.linspace(-2, 2, 200).unsqueeze(-1) if grid is None else grid
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.2), squeeze=False)
    with evaluating(learner):
        for ax, task in zip(axes[0], tasks):
            with torch.no_grad():
                predictor = learner.adapt(task.support_x, task.support_y)
                pred = predictor.predict(grid)
                fs = predictor.sample_functions(grid, samples) if hasattr(predictor, "sample_functions") else None
            g = grid.squeeze(-1)
            om, ocov = gp_posterior(kernel, noise, task.support_x, task.support_y, grid)
            osd = torch.diagonal(ocov).sqrt()
            ax.plot(g, om, "k--", lw=1, label="GP oracle")
            ax.fill_between(g, om - 1.96 * osd, om + 1.96 * osd, color="k", alpha=0.08)
            m, sd = pred.mean.squeeze(-1), pred.var.sqrt().squeeze(-1)
            ax.plot(g, m, "b", lw=1.5, label="model mean")
            ax.fill_between(g, m - 1.96 * sd, m + 1.96 * sd, color="b", alpha=0.2, label="model 95%")
            if fs is not None:
                for f in fs:
                    ax.plot(g, f.squeeze(-1), color="tab:orange", lw=0.7, alpha=0.7)
            ax.scatter(task.query_x.squeeze(-1), task.query_y.squeeze(-1), s=6, c="gray", label="targets")
            ax.scatter(task.support_x.squeeze(-1), task.support_y.squeeze(-1), s=18, c="k", label="context")
            ax.set(title=f"{title} ({task.support_x.shape[-2]} context)".strip(), xlabel="x")
        axes[0][0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
