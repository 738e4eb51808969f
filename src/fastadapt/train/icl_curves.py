"""In-context learning curves (Garg 2022, Figure 2): normalized squared error of a learner and of the
classical estimators as the number of in-context examples grows, with 95% confidence intervals, and the plot."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..learners.base import Learner
from ..stats import ci95
from ..tasks.linreg import BASELINES, LinearRegressionTasks

Estimator = Callable[[Tensor, Tensor, Tensor], Tensor]


@torch.no_grad()
def incontext_curve(
    learner: Learner | None,
    tasks: LinearRegressionTasks,
    ks: list[int],
    n_tasks: int = 1000,
    batch_size: int = 250,
    baselines: dict[str, Estimator] | None = None,
) -> dict[str, Any]:
    """Mean (and 95% CI over tasks) of ``(y_hat - y)^2 / d`` on the query points when the first ``k`` of
    the ``tasks.shots`` context examples are given, for each ``k`` in ``ks``. The same tasks serve every
    ``k`` and every estimator, so the curves are paired."""
    if max(ks) > tasks.shots:
        raise ValueError(
            f"ks go up to {max(ks)} but the tasks hold only {tasks.shots} context examples; "
            f"build the tasks with shots >= {max(ks)}."
        )
    methods: dict[str, Estimator] = dict(BASELINES if baselines is None else baselines)
    if learner is not None:
        was = learner.training
        learner.eval()
        methods = {"transformer": lambda sx, sy, qx: learner.forward(sx, sy, qx)["mean"], **methods}
    errs: dict[str, list[list[Tensor]]] = {name: [[] for _ in ks] for name in methods}
    for i, lo in enumerate(range(0, n_tasks, batch_size)):
        b = tasks.batch(i, min(batch_size, n_tasks - lo))
        for name, fn in methods.items():
            for j, k in enumerate(ks):
                pred = fn(b.support_x[:, :k], b.support_y[:, :k], b.query_x)
                errs[name][j].append(((pred - b.query_y) ** 2).mean(-1) / tasks.dim)
    if learner is not None:
        learner.train(was)
    out: dict[str, Any] = {"ks": list(ks), "dim": tasks.dim, "tasks": n_tasks, "curves": {}}
    for name, per_k in errs.items():
        e = [torch.cat(v).double() for v in per_k]
        out["curves"][name] = {
            "error": [float(v.mean()) for v in e],
            "ci95": [ci95(v) for v in e],
        }
    return out


def plot_curves(result: dict[str, Any], path: str | os.PathLike, title: str = "") -> None:
    """Error against the number of in-context examples, one line per estimator, with CI bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ks = result["ks"]
    for name, c in result["curves"].items():
        lo = [m - h for m, h in zip(c["error"], c["ci95"])]
        hi = [m + h for m, h in zip(c["error"], c["ci95"])]
        ax.plot(ks, c["error"], marker="o", ms=3, label=name, lw=2.2 if name == "transformer" else 1.2)
        ax.fill_between(ks, lo, hi, alpha=0.2)
    ax.axvline(result["dim"], color="grey", ls=":", lw=1)
    ax.set(
        xlabel="in-context examples k",
        ylabel="squared error / d",
        ylim=(0, 1.6),
        title=title or f"linear regression, d = {result['dim']}",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
