"""Calibration of predicted class probabilities: NLL, expected calibration error (Guo et al., 2017),
Brier score, reliability diagrams, and temperature scaling (Guo et al., 2017)."""

from __future__ import annotations

import math
import os

import torch
from torch import Tensor


def nll(probs: Tensor, labels: Tensor) -> float:
    """Mean negative log-probability of the true class."""
    return float(-probs.gather(-1, labels.unsqueeze(-1)).clamp_min(1e-12).log().mean())


def brier(probs: Tensor, labels: Tensor) -> float:
    """Mean squared distance between probabilities and the one-hot label (summed over classes)."""
    onehot = torch.nn.functional.one_hot(labels, probs.shape[-1]).to(probs.dtype)
    return float(((probs - onehot) ** 2).sum(-1).mean())


def fit_temperature(logits: Tensor, labels: Tensor, steps: int = 100) -> float:
    """Temperature scaling (Guo et al., 2017): the ``T > 0`` whose ``softmax(logits / T)`` has the least NLL on these
    labelled predictions (``logits [..., N]``, ``labels [...]``). The NLL is convex in ``b = 1 / T``, with derivative
    ``mean(E_softmax(b z)[z] - z_label)`` increasing in ``b``: bisection on its sign in log ``b`` finds the minimum.
    Predictions all right (the NLL falls for ever as ``T`` shrinks) give a small ``T``, where the fall vanishes in
    float64; all wrong, the largest ``T`` searched, ``exp(12)``."""
    z = logits.detach().reshape(-1, logits.shape[-1]).double()
    y = labels.reshape(-1).long()
    if len(z) != len(y) or len(y) == 0:
        raise ValueError(f"fit_temperature needs one label per prediction: {len(z)} predictions, {len(y)} labels.")
    z = z - z.mean(-1, keepdim=True)  # the softmax does not see a shift
    z_label = z.gather(1, y[:, None]).squeeze(1)

    def slope(log_b: float) -> float:
        p = (math.exp(log_b) * z).softmax(-1)
        return float(((p * z).sum(-1) - z_label).mean())

    lo, hi = -12.0, 12.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if slope(mid) < 0 else (lo, mid)
    return math.exp(-(lo + hi) / 2)


def reliability(probs: Tensor, labels: Tensor, bins: int = 15) -> tuple[Tensor, Tensor, Tensor]:
    """Per equal-width confidence bin: count, mean confidence, accuracy."""
    conf, pred = probs.max(-1)
    correct = (pred == labels).to(probs.dtype)
    b = torch.clamp((conf * bins).ceil().long() - 1, 0, bins - 1)
    count = torch.zeros(bins, dtype=probs.dtype).index_add_(0, b, torch.ones_like(conf))
    conf_sum = torch.zeros(bins, dtype=probs.dtype).index_add_(0, b, conf)
    acc_sum = torch.zeros(bins, dtype=probs.dtype).index_add_(0, b, correct)
    safe = count.clamp_min(1)
    return count, conf_sum / safe, acc_sum / safe


def ece(probs: Tensor, labels: Tensor, bins: int = 15) -> float:
    """Expected calibration error: sum over bins of (bin share) x |accuracy - confidence|."""
    count, conf, acc = reliability(probs.reshape(-1, probs.shape[-1]), labels.reshape(-1), bins)
    return float((count / count.sum() * (acc - conf).abs()).sum())


def reliability_diagram(
    probs: Tensor, labels: Tensor, path: str | os.PathLike, title: str = "", bins: int = 15
) -> None:
    """Save a reliability diagram (accuracy per confidence bin against the diagonal) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count, conf, acc = reliability(probs.reshape(-1, probs.shape[-1]), labels.reshape(-1), bins)
    edges = torch.linspace(0, 1, bins + 1)
    fig, ax = plt.subplots(figsize=(4, 4))
    keep = count > 0
    ax.bar(edges[:-1][keep], acc[keep], width=1 / bins, align="edge", edgecolor="k", label="accuracy")
    ax.plot([0, 1], [0, 1], "r--", label="perfect calibration")
    ax.set(
        xlabel="confidence",
        ylabel="accuracy",
        xlim=(0, 1),
        ylim=(0, 1),
        title=f"{title}\nECE = {ece(probs, labels, bins):.4f}",
    )
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
