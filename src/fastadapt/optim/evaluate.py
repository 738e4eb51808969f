"""Learned optimizer against tuned baselines on held-out problems: loss-vs-step curves with 95% bands
(1.96 standard errors over problems, of the loss and of its log), final losses, a paired comparison with tuned Adam,
divergence counts
and the wall-clock cost of one ``step()``; plots with matplotlib (Agg)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import torch

from ..stats import ci95
from .baselines import BASELINES, run_optimizer
from .learned import LearnedOptimizer
from .problems import Family
from .rules import UpdateRule

LEARNED = "learned"


def band(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, 95% CI half-width and count over the finite values."""
    v = torch.tensor([x for x in values if math.isfinite(x)], dtype=torch.float64)
    if len(v) == 0:
        return math.inf, math.nan, 0
    return float(v.mean()), ci95(v), len(v)


def _short(xs: list[float]) -> list[float]:
    return [float(f"{x:.6g}") for x in xs]


def curve_stats(curves: list[list[float]]) -> dict[str, Any]:
    steps = len(curves[0])
    per_step = [band([c[t] for c in curves]) for t in range(steps)]
    final = band([c[-1] for c in curves])
    logs = [band([math.log(max(c[t], 1e-300)) for c in curves]) for t in range(steps)]
    geo = [
        (
            math.exp(m),
            math.exp(m - (ci if math.isfinite(ci) else 0.0)),
            math.exp(m + (ci if math.isfinite(ci) else 0.0)),
        )
        if math.isfinite(m)
        else (math.inf, math.inf, math.inf)
        for m, ci, _ in logs
    ]
    return {
        "mean": _short([m for m, _, _ in per_step]),
        "ci95": _short([c for _, c, _ in per_step]),
        "geo_mean": _short([g for g, _, _ in geo]),
        "geo_lo": _short([lo for _, lo, _ in geo]),
        "geo_hi": _short([hi for _, _, hi in geo]),
        "final_geo_mean": geo[-1][0],
        "final_geo_band": [geo[-1][1], geo[-1][2]],
        "final_mean": final[0],
        "final_ci95": final[1],
        "final_per_problem": [c[-1] for c in curves],
        "diverged": sum(1 for c in curves if not math.isfinite(c[-1])),
    }


def compare(
    rule: UpdateRule,
    family: Family,
    tuned: dict[str, dict[str, Any]],
    horizon: int,
    n_problems: int,
) -> dict[str, Any]:
    """Run the learned rule and every tuned baseline on problems 0..n_problems-1 of ``family`` for
    ``horizon`` steps; per optimizer: mean curve with 95% band, final loss, divergences, ms per step()."""
    problems = [family.problem(i) for i in range(n_problems)]
    makers = {LEARNED: lambda ps: LearnedOptimizer(ps, rule)}
    makers.update({n: (lambda ps, n=n: BASELINES[n](ps, tuned[n]["lr"])) for n in tuned})
    out: dict[str, Any] = {
        "family": family.name,
        "part": family.part,
        "horizon": horizon,
        "problems": n_problems,
        "optimizers": {},
    }
    for name, make in makers.items():
        runs = [run_optimizer(p, make, horizon) for p in problems]
        stats = curve_stats([c for c, _ in runs])
        stats["ms_per_step"] = 1000 * sum(s for _, s in runs) / len(runs)
        if name != LEARNED:
            stats["lr"] = tuned[name]["lr"]
        out["optimizers"][name] = stats
    learned = out["optimizers"][LEARNED]
    for ref in [n for n in ("adam",) if n in tuned]:
        a, b = learned["final_per_problem"], out["optimizers"][ref]["final_per_problem"]
        diff = [x - y for x, y in zip(a, b)]
        m, ci, n = band(diff)
        out[f"vs_{ref}"] = {
            "final_diff_mean": m,
            "final_diff_ci95": ci,
            "finite_pairs": n,
            "learned_better_fraction": sum(x < y for x, y in zip(a, b)) / len(a),
            "learned_below": m + (ci if math.isfinite(ci) else 0.0) < 0 if n == len(a) else False,
        }
    best_base = min(
        (n for n in out["optimizers"] if n != LEARNED), key=lambda n: out["optimizers"][n]["final_mean"], default=None
    )
    out["best_baseline"] = best_base
    if best_base is not None:
        out["learned_overhead_x"] = learned["ms_per_step"] / max(
            out["optimizers"]["adam" if "adam" in tuned else best_base]["ms_per_step"], 1e-9
        )
    return out


def plot_curves(result: dict[str, Any], path: str | os.PathLike, title: str = "") -> None:
    """Geometric-mean loss per step with the 95% band of the mean log-loss, one line per optimizer, log
    scale (arithmetic means of heavy-tailed losses are dominated by a few problems; both are in the JSON)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, st in result["optimizers"].items():
        mean, lo, hi = (torch.tensor(st[k], dtype=torch.float64) for k in ("geo_mean", "geo_lo", "geo_hi"))
        steps = torch.arange(len(mean))
        ok = torch.isfinite(mean)
        label = name if name == LEARNED else f"{name} (lr {st['lr']:.3g})"
        (line,) = ax.plot(steps[ok], mean[ok], label=label, lw=2 if name == LEARNED else 1.2)
        ax.fill_between(steps[ok], lo[ok], hi[ok], color=line.get_color(), alpha=0.2)
    ax.set(
        xlabel="step",
        ylabel="optimizee loss (geometric mean over problems)",
        yscale="log",
        title=title or f"{result['family']} ({result['part']}), {result['problems']} problems, 95% bands",
    )
    ax.axvline(result.get("train_horizon", result["horizon"]), color="grey", ls=":", lw=1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
