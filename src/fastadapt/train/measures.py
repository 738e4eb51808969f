"""What a benchmark test measures on a trained run, one function per kind of learner, each returning its named
values with 95% intervals (``{name: (value, ci95)}``):

- ``accuracy``: few-shot classification accuracy over test episodes (`evaluate`); value ``accuracy``.
- ``instance_accuracy``: Santoro et al. (2016)'s accuracy at the k-th presentation of a class in Omniglot test
  sequences of ``ways`` classes x 10 drawings (a memory-augmented network); values ``"1"`` .. ``"10"``.
- ``kl_to_gp``: a (Conditional) Neural Process's gap to the exact GP per target point (Bruinsma 2022's KL metric,
  `evaluate_against_oracle`) on ``episodes`` test functions of the run's own task; values ``joint``, ``marginal``
  and, for a latent-variable model, ``elbo`` and ``iw``. Lower is better.
- ``return``: a meta-RL learner's average return on ``episodes`` held-out tasks of the run's task family, one value
  per adaptation stage (``evaluate_rl``'s stage names, e.g. ``"before"`` / ``"after 1 step"``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..tasks import build_sampler
from .evaluate import evaluate
from .gp_oracle import GAP_ELBO, GAP_IW, GAP_JOINT, GAP_MARGINAL, evaluate_against_oracle

Values = dict[str, tuple[float, float]]
SANTORO_INSTANCES = (1, 2, 3, 4, 5, 10)  # Santoro 2016, Table 1: each class is shown 10 times per sequence


@dataclass(frozen=True)
class Measure:
    """How to measure a test: ``fn(learner, cfg, test, device) -> Values``; ``default``: the value a test reports
    unless it names another (empty: the last one, e.g. the return after the most adaptation); ``percent``: reported
    x100; ``higher_is_better``: which way a goal is met; ``reads``: the test's fields it uses beyond ``split`` and
    ``episodes`` (its record keeps those)."""

    fn: Callable[..., Values]
    default: str
    reads: tuple[str, ...] = ()
    percent: bool = True
    higher_is_better: bool = True


def _accuracy(learner: Any, cfg: dict[str, Any], t: Any, device: str) -> Values:
    if t.tta_flip and not hasattr(learner, "tta_flip"):
        raise ValueError(f"Test {t.label!r} asks for tta_flip, which {type(learner).__name__} does not offer.")
    data = {**cfg, "dataset": t.dataset or cfg["dataset"]}
    sampler = build_sampler(data, t.split, t.ways, t.shots, t.queries, cfg["eval_seed"])
    saved = getattr(learner, "tta_flip", False)  # a run that flips at test time always does
    if t.tta_flip:
        learner.tta_flip = True
    try:
        res = evaluate(learner, sampler, t.episodes, device=device)
    finally:
        if t.tta_flip:
            learner.tta_flip = saved
    return {"accuracy": (res["accuracy"], res["ci95"])}


def _instance_accuracy(learner: Any, cfg: dict[str, Any], t: Any, device: str) -> Values:
    from ..learners.mann import instance_accuracy
    from ..tasks.sequence import omniglot_sequences

    seqs = omniglot_sequences(cfg, t.split, t.ways, max(SANTORO_INSTANCES), seed=cfg["eval_seed"])
    res = instance_accuracy(learner, seqs, t.episodes, instances=SANTORO_INSTANCES)
    return {str(k): (res[str(k)]["accuracy"], res[str(k)]["ci95"]) for k in SANTORO_INSTANCES}


def _own_tasks(cfg: dict[str, Any], split: str) -> Any:
    """The run's own task distribution (its shot and query counts) on ``split``, on its evaluation seed."""
    return build_sampler(cfg, split, None, cfg["shots"], cfg["queries"], cfg["eval_seed"])


def _kl_to_gp(learner: Any, cfg: dict[str, Any], t: Any, device: str) -> Values:
    res = evaluate_against_oracle(learner, _own_tasks(cfg, t.split), t.episodes, np_samples=t.samples, seed=cfg["seed"])
    keys = {"joint": GAP_JOINT, "marginal": GAP_MARGINAL, "elbo": GAP_ELBO, "iw": GAP_IW}
    return {name: (res[k]["mean"], res[k]["ci95"]) for name, k in keys.items() if k in res}


def _returns(learner: Any, cfg: dict[str, Any], t: Any, device: str) -> Values:
    from ..rl.evaluate import evaluate_rl

    res = evaluate_rl(learner, _own_tasks(cfg, t.split), t.episodes, device=device)
    return {name: (m, c) for name, m, c in zip(res["stages"], res["returns"], res["returns_ci95"])}


MEASURES: dict[str, Measure] = {
    "accuracy": Measure(_accuracy, "accuracy", ("dataset", "ways", "shots", "queries", "tta_flip")),
    "instance_accuracy": Measure(_instance_accuracy, "2", ("ways",)),
    "kl_to_gp": Measure(_kl_to_gp, "joint", ("samples",), percent=False, higher_is_better=False),
    "return": Measure(_returns, "", percent=False),
}


def pick(values: Values, metric: str, name: str, label: str) -> tuple[str, float, float]:
    """The value ``name`` (empty: the metric's default) of ``values``, with its name and 95% interval."""
    name = name or MEASURES[metric].default or list(values)[-1]
    if name not in values:
        raise ValueError(f"Test {label!r}: {metric} gives {sorted(values)}, not {name!r}; set value to one of them.")
    return (name, *values[name])
