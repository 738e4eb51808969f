"""Hand-designed baselines, each tuned per optimizee family on a learning-rate grid: SGD, SGD with
momentum 0.9, Adam and RMSprop (the comparisons of Andrychowicz 2016), run through `torch.optim` exactly
as the learned optimizer is run through `LearnedOptimizer`, on the same problems and minibatch streams."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from .problems import Family, Problem

MakeOptimizer = Callable[[list[Tensor], float], torch.optim.Optimizer]

BASELINES: dict[str, MakeOptimizer] = {
    "sgd": lambda p, lr: torch.optim.SGD(p, lr=lr),
    "momentum": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9),
    "adam": lambda p, lr: torch.optim.Adam(p, lr=lr),
    "rmsprop": lambda p, lr: torch.optim.RMSprop(p, lr=lr),
}
DEFAULT_GRID = tuple(10.0 ** (e / 2) for e in range(-8, 2))  # 1e-4 ... 3.16, half-decades


def run_optimizer(
    problem: Problem,
    make: Callable[[list[Tensor]], torch.optim.Optimizer],
    horizon: int,
) -> tuple[list[float], float]:
    """Optimize ``problem`` for ``horizon`` steps with the standard zero_grad / backward / step protocol.
    Returns the losses f(theta_0), ..., f(theta_horizon) (``inf`` from the first non-finite one on: a
    diverged run stays diverged) and the mean seconds spent in ``step()``."""
    params = {k: v.clone().requires_grad_() for k, v in problem.init_params().items()}
    opt = make(list(params.values()))
    losses, step_time = [], 0.0
    for t in range(horizon):
        opt.zero_grad(set_to_none=True)
        loss = problem.loss(params, t)
        value = float(loss.detach())
        if not math.isfinite(value):
            return losses + [math.inf] * (horizon + 1 - len(losses)), step_time / max(t, 1)
        losses.append(value)
        loss.backward()
        start = time.perf_counter()
        opt.step()
        step_time += time.perf_counter() - start
    with torch.no_grad():
        final = float(problem.loss(params, horizon))
    losses.append(final if math.isfinite(final) else math.inf)
    return losses, step_time / horizon


def final_score(curves: Sequence[Sequence[float]], last: int = 1) -> float:
    """Mean over problems of the mean of the last ``last`` losses (``inf`` if any run diverged)."""
    vals = [sum(c[-last:]) / last for c in curves]
    return math.inf if any(not math.isfinite(v) for v in vals) else sum(vals) / len(vals)


def tune(
    family: Family,
    n_problems: int,
    horizon: int,
    names: Sequence[str] = tuple(BASELINES),
    grid: Sequence[float] = DEFAULT_GRID,
    last: int = 1,
) -> dict[str, dict[str, Any]]:
    """Per baseline: the learning rate in ``grid`` with the lowest mean final loss on ``n_problems``
    problems of ``family`` (use its ``val`` part) at ``horizon``; returns the grid scores and the winner."""
    unknown = set(names) - set(BASELINES)
    if unknown:
        raise ValueError(f"Unknown baseline(s) {sorted(unknown)}; known: {sorted(BASELINES)}.")
    problems = [family.problem(i) for i in range(n_problems)]
    out = {}
    for name in names:
        scores = {}
        for lr in grid:
            rule = BASELINES[name]
            curves = [run_optimizer(p, lambda ps, lr=lr, rule=rule: rule(ps, lr), horizon)[0] for p in problems]
            scores[lr] = final_score(curves, last)
        best = min(scores, key=lambda lr: scores[lr])
        out[name] = {
            "grid": list(grid),
            "scores": [scores[lr] for lr in grid],
            "lr": best,
            "score": scores[best],
            "at_grid_edge": best in (min(grid), max(grid)),
            "criterion": f"mean loss over the last {last} step(s) on {n_problems} {family.part} problems "
            f"at horizon {horizon}",
        }
    return out
