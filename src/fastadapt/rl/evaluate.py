"""Evaluation of meta-RL learners: the average return on held-out tasks at each stage of adaptation (MAML: before
adaptation and after 1, 2, 3 policy-gradient steps; RL^2: episodes 1, 2, 3 of a trial), each with a 95% interval
over tasks (1.96 standard errors of the per-task averages). The one results schema: ``score`` / ``ci95`` (the
stage that selects checkpoints), ``returns`` / ``returns_ci95`` per stage, ``stages`` (their names), ``episodes``
(the number of tasks, as for the other learners) and ``headline``.

A learner offers ``evaluate_returns(batch) -> [B, stages]``, ``stage_names()`` and ``score_stage`` (an index, or
None for the mean over stages); nothing here imports a learner."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor

from ..nn.modes import evaluating
from ..stats import ci95
from ..tasks.rl_envs import RLTaskSampler

TASKS_PER_BATCH = 50


def is_rl(learner: Any) -> bool:
    return getattr(learner, "task_type", None) == "rl"


@torch.no_grad()
def collect_returns(
    learner: Any,
    sampler: RLTaskSampler,
    tasks: int,
    device: str | torch.device = "cpu",
    batch_size: int = TASKS_PER_BATCH,
) -> tuple[Tensor, float]:
    """Per-task average returns ``[tasks, stages]`` on the sampler's held-out tasks ``0 .. tasks - 1`` (the same
    tasks whatever ``batch_size``), and the seconds it took; the learner runs in ``eval()`` mode."""
    if tasks <= 0:
        raise ValueError(f"The number of evaluation tasks must be positive, got {tasks}.")
    with evaluating(learner):
        start, out = time.perf_counter(), []
        for lo in range(0, tasks, batch_size):
            out.append(learner.evaluate_returns(sampler.tasks(lo, min(batch_size, tasks - lo)).to(device)).cpu())
    return torch.cat(out).double(), time.perf_counter() - start


def summarize_returns(returns: Tensor, names: list[str], score_stage: int | None) -> dict[str, Any]:
    means = returns.mean(0)
    cis = [ci95(returns[:, k]) for k in range(returns.shape[1])]
    if score_stage is None:
        per_task = returns.mean(1)
        score, score_ci, what = float(per_task.mean()), ci95(per_task), "mean over " + ", ".join(names)
    else:
        score, score_ci, what = float(means[score_stage]), cis[score_stage], names[score_stage]
    return {
        "returns": [float(m) for m in means],
        "returns_ci95": cis,
        "stages": names,
        "score": score,
        "ci95": score_ci,
        "score_stage": what,
        "episodes": returns.shape[0],
        "tasks": returns.shape[0],
    }


def evaluate_rl(
    learner: Any, sampler: RLTaskSampler, tasks: int = 100, device: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Average returns per adaptation stage over ``tasks`` held-out tasks, with 95% intervals (module docstring)."""
    returns, secs = collect_returns(learner, sampler, tasks, device)
    res = summarize_returns(returns, learner.stage_names(returns.shape[1]), learner.score_stage)
    res.update(shots=sampler.shots, seconds=secs, tasks_per_second=tasks / secs)
    res["headline"] = headline(res)
    return res


def headline(res: dict[str, Any]) -> str:
    stages = "; ".join(f"{n} {m:.2f} +- {c:.2f}" for n, m, c in zip(res["stages"], res["returns"], res["returns_ci95"]))
    return f"average return over {res['tasks']} held-out tasks ({res['shots']} rollouts per stage): {stages}"


def eval_rl_run(
    learner: Any,
    cfg: dict[str, Any],
    split: str = "test",
    tasks: int | None = None,
    shots: int | None = None,
    device: str | torch.device = "cpu",
) -> tuple[dict[str, Any], str]:
    """`fastadapt eval RUN` for a meta-RL run: its results on ``split`` and a line to print."""
    from ..tasks import build_sampler

    sampler = build_sampler(cfg, split, None, shots or cfg["shots"], cfg["queries"], cfg["eval_seed"])
    res = evaluate_rl(learner, sampler, tasks or cfg["eval_episodes"], device)
    res.update(split=split, dataset=cfg["dataset"], method=cfg["method"])
    return res, f"{cfg['dataset']} {split}, {cfg['method']}: {res['headline']}"
