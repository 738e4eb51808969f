"""Meta-RL figures: average return against adaptation steps per method (Finn 2017, Fig. 5), and 2D navigation
paths before and after adaptation on a few goals."""

from __future__ import annotations

import os
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def returns_by_stage(runs: dict[str, dict[str, Any]], path: str | os.PathLike, title: str = "") -> None:
    """One line per run: its average return at each stage (``stages``, ``returns``, ``returns_ci95``, as
    `fastadapt.rl.evaluate.evaluate_rl` reports them) with the 95% interval over tasks as error bars; a run that
    carries ``tuned_step_size`` (a fine-tuned baseline at its best validation step size) also gets that curve.
    Stages are plotted by position (before adaptation, after 1, 2, 3 steps; RL^2: episodes 1, 2, 3)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    curves = {}
    for name, run in runs.items():
        curves[name] = run
        if "tuned_step_size" in run:
            curves[f"{name}, step {run['tuned_step_size']['lr']:g}"] = run["tuned_step_size"]
    for name, run in curves.items():
        x = list(range(len(run["returns"])))
        ax.errorbar(x, run["returns"], yerr=run["returns_ci95"], marker="o", capsize=3, label=name)
    ax.set(xlabel="adaptation stage (gradient steps; RL^2: episode - 1)", ylabel="average return", title=title)
    ax.set_xticks(range(max(len(r["returns"]) for r in runs.values())))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def navigation_paths(learner: Any, batch: Any, path: str | os.PathLike, steps: int = 1, rollouts: int = 20) -> None:
    """For each task of ``batch`` (2D navigation goals), the paths of a MAML-RL learner's policy before adaptation
    and after ``steps`` policy-gradient steps, each from ``rollouts`` episodes: the mean path (thick) and three
    episodes (thin), with the goal as a star."""
    before = learner.initial_policy()
    traj = before.rollout(batch, rollouts=rollouts)
    stages = [("before", "tab:gray", traj)]
    policy = before
    for k in range(steps):
        policy = learner.adapt(traj, start=policy)
        traj = policy.rollout(batch, rollouts=rollouts, stream=k + 1)
    stages.append((f"after {steps} step{'s' * (steps != 1)}", "tab:blue", traj))
    n, plt = len(batch), _pyplot()
    fig, axes = plt.subplots(1, n, figsize=(3 * n, 3.4), sharex=True, sharey=True, squeeze=False)
    for i, ax in enumerate(axes[0]):
        for label, colour, tr in stages:
            paths = tr.obs[i, :, :, :2]  # [episodes, steps, xy]
            for one in paths[:3]:
                ax.plot(*one.T, color=colour, lw=0.5, alpha=0.4)
            ax.plot(*paths.mean(0).T, color=colour, lw=2.5, label=label)
        ax.scatter(*batch.params[i].tolist(), marker="*", s=150, color="tab:red", label="goal", zorder=3)
        ax.set(xlim=(-0.6, 0.6), ylim=(-0.6, 0.6), xticks=[-0.5, 0, 0.5], yticks=[-0.5, 0, 0.5], aspect="equal")
        ax.set_title(f"test goal {i + 1}")
    axes[0][0].legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
