"""Meta-training of a learned optimizer (Andrychowicz 2016) on the one loop (`train.loop.fit`): each meta-iteration
of `LearnedOptimizerObjective` draws ``meta_batch`` training problems, optimizes them with the rule for ``horizon``
steps in truncated windows of ``unroll`` steps, and after every window takes an Adam step on the rule's weights
from the summed optimizee losses. Validation (minus the mean loss over the horizon on ``val`` problems) selects
``best.safetensors``; ``last`` holds rule, meta-optimizer and counters so ``--resume`` continues exactly (problem i
depends only on (seed, i)). At the end (and on `fastadapt eval RUN`) `evaluate_run` compares against tuned
baselines."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from ..configs import from_dict
from ..configs.run import TrainConfig
from ..cpu_memory import reuse_freed_memory
from ..io import atomic_write_bytes
from ..optim.baselines import DEFAULT_GRID, tune
from ..optim.evaluate import band, compare, plot_curves
from ..optim.learned import load_rule
from ..optim.problems import build_family
from ..optim.rules import UpdateRule, build_rule
from ..optim.unroll import rollout, truncated_unrolls
from ..presets.limits import check_limits
from .distributed import World, average_metrics, close_world, init_world, share
from .loop import TrainingDiverged, fit, require_finite, update
from .plots import learning_curve
from .run_log import BEST, git_commit, machine, prepare_out


def check_l2o_config(cfg: dict[str, Any]) -> TrainConfig:
    """Refuse a learned-optimizer configuration that cannot train, before any work is done; returns its typed
    training settings."""
    tc = from_dict(TrainConfig, cfg)
    for key in ("steps", "unroll", "horizon", "horizon_mult", "val_problems", "eval_problems", "tune_problems"):
        if isinstance(cfg.get(key), bool) or not isinstance(cfg.get(key), int) or cfg[key] <= 0:
            raise ValueError(f"{key} must be a positive integer, got {cfg.get(key)!r}; set it with --set {key}=N.")
    if cfg["unroll"] > cfg["horizon"]:
        raise ValueError(
            f"unroll ({cfg['unroll']}) is longer than the horizon ({cfg['horizon']}); set unroll <= horizon."
        )
    check_limits(cfg)
    grid(cfg)
    return tc


def grid(cfg: dict[str, Any]) -> tuple[float, ...]:
    raw = cfg.get("lr_grid", "")
    if not raw:
        return DEFAULT_GRID
    try:
        return tuple(float(x) for x in str(raw).split(","))
    except ValueError:
        raise ValueError(f"lr_grid must be comma-separated numbers like '1e-3,1e-2,1e-1', got {raw!r}.") from None


def validate(rule: UpdateRule, family: Any, n: int, horizon: int) -> tuple[float, float]:
    """Mean (and 95% CI) over ``n`` problems of the mean loss along the horizon (the meta-objective)."""
    per = []
    for i in range(n):
        losses = rollout(rule, family.problem(i), horizon)[1:]
        per.append(sum(losses) / len(losses))
    m, ci, k = band(per)
    return (m, ci) if k == n else (math.inf, math.nan)


class LearnedOptimizerObjective:
    """Truncated back-propagation through ``horizon`` optimizee steps, ``unroll`` at a time (Andrychowicz 2016;
    ``second_order`` keeps the optimizee's second derivatives); one Adam step on the rule per window."""

    def __init__(self, cfg: dict[str, Any], tc: TrainConfig, world: World) -> None:
        self.cfg, self.tc, self.world = cfg, tc, world
        self.model: UpdateRule = build_rule(cfg)
        self.train_f = build_family(cfg, cfg["family"], "train", tc.seed)
        self.val_f = build_family(cfg, cfg["family"], "val", tc.eval_seed)
        self.mine = share(tc.meta_batch, world)  # this rank's problems

    def param_groups(self) -> list[torch.Tensor]:
        return list(self.model.parameters())

    def step(self, step: int, opt: torch.optim.Optimizer) -> dict[str, float]:
        cfg, mb, second = self.cfg, self.tc.meta_batch, bool(self.cfg.get("second_order"))
        gens = [
            truncated_unrolls(self.model, self.train_f.problem(step * mb + b), cfg["horizon"], cfg["unroll"], second)
            for b in self.mine
        ]
        total, final = 0.0, 0.0
        for windows in zip(*gens):
            loss = sum(w[0] for w in windows) / len(self.mine)
            value = average_metrics({"loss": float(loss.detach())}, self.world)["loss"]
            require_finite(value)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            update(opt, self.param_groups(), self.world, self.tc.grad_clip)
            total += value
            final = sum(w[3][-1] for w in windows) / len(self.mine)
        final = average_metrics({"last_loss": final}, self.world)["last_loss"]
        return {"loss": total / math.ceil(cfg["horizon"] / cfg["unroll"]), "last_loss": final}

    def validate(self) -> dict[str, float]:
        val, ci = validate(self.model, self.val_f, self.cfg["val_problems"], self.cfg["horizon"])
        return {"val_score": -val, "val_ci95": ci, "val_loss": val}


def train_l2o(
    cfg: dict[str, Any],
    out_dir: str | os.PathLike,
    resume: bool = False,
    progress: bool | None = None,
    evaluate: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Meta-train the learned optimizer described by ``cfg`` into ``out_dir``; returns the evaluation.
    ``overwrite`` replaces a run already in ``out_dir`` (its files are deleted once the new run is built).
    Under `torchrun` each rank unrolls its share of the meta-batch's problems and the rule's gradients are
    averaged before every meta-step (rank 0 alone validates and writes)."""
    tc = check_l2o_config(cfg)
    out = Path(out_dir)
    world, _ = init_world(torch.device("cpu"))
    reuse_freed_memory()
    try:
        torch.manual_seed(tc.seed)
        objective = LearnedOptimizerObjective(cfg, tc, world)  # fails early, with a clear message, on an uneven split
        if world.is_main:  # after the run is built: a bad setting deletes nothing
            prepare_out(out, resume, overwrite)
        _, train_seconds = fit(objective, cfg, tc, out, resume, progress, world)
    finally:
        close_world(world)
    if not world.is_main:
        return {}
    if not (out / BEST).exists():
        raise TrainingDiverged(f"No validation score was finite during training; no {BEST} written in {out}.")
    learning_curve(out / "metrics.jsonl", out / "learning_curve.png", title=cfg.get("preset", "l2o"))
    if not evaluate:
        return {"train_seconds": train_seconds}
    return evaluate_run(out, train_seconds=train_seconds)


def evaluate_run(
    run_dir: str | os.PathLike,
    eval_problems: int | None = None,
    train_seconds: float | None = None,
    families: list[str] | None = None,
    results_name: str = "results.json",
) -> dict[str, Any]:
    """Tune the baselines per family on its ``val`` problems, then compare on held-out ``test`` problems at
    the training horizon and at ``horizon_mult`` times it; writes ``results_name``, curve plots and summary.txt."""
    out = Path(run_dir)
    rule, cfg = load_rule(out)
    n = eval_problems or cfg["eval_problems"]
    H, mult = cfg["horizon"], cfg["horizon_mult"]
    fams = families or [cfg["family"]] + [f for f in str(cfg.get("transfer_families", "")).split(",") if f]
    results: dict[str, Any] = {
        "preset": cfg.get("preset"),
        "commit": git_commit(),
        "machine": machine(),
        "seed": cfg["seed"],
        "train_seconds": train_seconds,
        "families": {},
    }
    prev = out / "results.json"
    if train_seconds is None and prev.exists():
        results["train_seconds"] = json.loads(prev.read_text()).get("train_seconds")
    lines = []
    for fam in fams:
        t = time.perf_counter()
        tuned = tune(build_family(cfg, fam, "val", cfg["eval_seed"]), cfg["tune_problems"], H, grid=grid(cfg))
        test_f = build_family(cfg, fam, "test", cfg["eval_seed"])
        entry: dict[str, Any] = {"seen_in_meta_training": fam == cfg["family"], "tuning": tuned}
        for h in (H, H * mult):
            res = compare(rule, test_f, tuned, h, n)
            res["train_horizon"] = H
            plot_curves(
                res,
                out / f"curves_{fam}_h{h}.png",
                title=f"{cfg.get('preset', 'l2o')}: {fam} test, {h} steps, {n} problems, 95% bands",
            )
            entry[f"h{h}"] = res
            L, A = res["optimizers"]["learned"], res["optimizers"]["adam"]
            lines.append(
                f"{fam} test, {h} steps ({'training horizon' if h == H else f'{mult}x'}): learned "
                f"{L['final_mean']:.4g} +- {L['final_ci95']:.2g} ({L['diverged']} diverged) vs tuned Adam "
                f"(lr {A['lr']:.3g}) {A['final_mean']:.4g} +- {A['final_ci95']:.2g}; best baseline "
                f"{res['best_baseline']}; learned better on {100 * res['vs_adam']['learned_better_fraction']:.0f}%"
                f" of problems; step() {L['ms_per_step']:.3f} ms vs Adam {A['ms_per_step']:.3f} ms"
            )
        entry["eval_seconds"] = time.perf_counter() - t
        results["families"][fam] = entry
    atomic_write_bytes(out / results_name, json.dumps(results, indent=1).encode())
    summary = (
        f"{cfg.get('preset', 'l2o')} ({cfg['l2o_net']} optimizer, trained on {cfg['family']}):\n  "
        + "\n  ".join(lines)
        + "\n"
    )
    atomic_write_bytes(out / "summary.txt", summary.encode())
    return results
