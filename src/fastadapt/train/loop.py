"""The one meta-training loop (plain, in the spirit of nanoGPT), for every kind of run: an `Objective` says what one
meta-iteration computes and how a model is validated; the loop owns everything else: the learning-rate schedule,
per-step seeding, logging, validation and the best checkpoint, exact resume after a crash (iteration i depends only
on (seed, i); model, optimizer, best score and elapsed time are checkpointed), time limits and divergence.

Objectives: the episodic learners (`train.trainer`, Finn 2017, Snell 2017, ...), learned optimizers (`train.l2o`,
Andrychowicz 2016) and in-context learning language models (MetaICL, Min 2022, a learner like any other)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from tqdm import tqdm

from ..checkpoint import save_checkpoint
from ..configs.run import TrainConfig
from ..seeding import stream_seed
from .distributed import World, any_rank, average_gradients
from .run_log import BEST, LAST, RunLog


class TrainingDiverged(RuntimeError):
    """The meta-loss became NaN or infinite."""


class NonFiniteLoss(ArithmeticError):
    """Raised by an objective's step on a NaN or infinite loss, before it updates the model."""

    def __init__(self, value: float) -> None:
        super().__init__(value)
        self.value = value


def require_finite(value: float) -> None:
    """Refuse a NaN or infinite loss (the loop then stops and names the last good checkpoint)."""
    if not math.isfinite(value):
        raise NonFiniteLoss(value)


class Objective(Protocol):
    """What the loop meta-trains: ``model`` (trained, checkpointed, restored on resume) and two methods."""

    model: nn.Module

    def param_groups(self) -> Iterable[Any]:
        """Adam's parameters or parameter groups (a group's ``lr_scale`` scales the scheduled rate)."""
        ...

    def step(self, step: int, opt: torch.optim.Optimizer) -> dict[str, float]:
        """Meta-iteration ``step``: gradients and optimizer step(s) (see `update`); returns its metrics, ``loss``
        first. Calls `require_finite` on the loss before updating the model."""
        ...

    def validate(self) -> dict[str, float]:
        """Validation entries for the log: ``val_score`` (higher is better; it picks the best checkpoint),
        ``val_ci95`` and any other ``val_*``."""
        ...


def update(opt: torch.optim.Optimizer, params: list[torch.Tensor], world: World, grad_clip: float = 0.0) -> None:
    """The outer step once gradients are in ``.grad``: average them over processes, clip their norm (``grad_clip``
    > 0), step ``opt``."""
    average_gradients(params, world)
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    opt.step()


def fit(
    objective: Objective,
    cfg: dict[str, Any],
    tc: TrainConfig,
    out: Path,
    resume: bool,
    progress: bool | None,
    world: World,
) -> tuple[int, float]:
    """Meta-train ``objective`` for ``tc.steps`` iterations (or until ``tc.max_train_seconds``) into ``out``;
    returns (iterations done, training seconds). Only the main process writes."""
    model = objective.model
    opt = torch.optim.Adam(objective.param_groups(), lr=tc.lr)
    run = RunLog(out, cfg, model, opt, resume, write=world.is_main)
    model.train()
    bar = tqdm(
        total=tc.steps,
        initial=run.start,
        unit="step",
        dynamic_ncols=True,
        disable=(None if progress is None else not progress) if world.is_main else True,
    )
    done = run.start
    for step in range(run.start, tc.steps):
        lr = run.lr(step)
        for group in opt.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        # the objective's own draws (label permutations, dropout, samples) come from torch's global generator,
        # seeded per step: a resumed run draws exactly what an uninterrupted one does
        torch.manual_seed(stream_seed(tc.seed, step, offset=11))
        try:
            metrics = objective.step(step, opt)
        except NonFiniteLoss as e:
            raise TrainingDiverged(
                f"The meta-loss became {e.value} at step {step + 1}; stopped. The last good checkpoint is kept "
                f"in {out / LAST}. Lower lr (now {lr:g}) and --resume."
            ) from None
        done = step + 1
        # max_train_seconds (> 0) used up: validate, checkpoint, stop; every rank agrees (one all-reduce)
        stop = tc.max_train_seconds > 0 and any_rank(run.elapsed >= tc.max_train_seconds, world)
        bar.update(1)
        if not world.is_main:
            if stop:
                break
            continue
        record = run.add(done, metrics, stop)
        if record:
            rate = bar.format_dict.get("rate")
            eps = tc.meta_batch * rate if rate else float("nan")
            bar.set_postfix(
                loss=f"{record['loss']:.3g}", acc=f"{record.get('acc', float('nan')):.3f}", eps=f"{eps:.1f}/s"
            )
        if run.due(done, "val_every", stop):
            val = objective.validate()
            record.update(val)
            if val["val_score"] > run.best:
                run.best = val["val_score"]
                save_checkpoint(out / BEST, model, {"config": cfg, "step": done, **val})
            if bar.disable and progress is None:  # no terminal (a log file, CI): one line per validation
                print(progress_line(done, tc.steps, record, run.elapsed, tc.max_train_seconds), flush=True)
        run.write(done, record, lr)
        run.checkpoint(done, model, opt, stop)
        if stop:
            break
    bar.close()
    return done, run.elapsed


def progress_line(done: int, steps: int, record: dict[str, Any], elapsed: float, limit: float = 0.0) -> str:
    """One line for logs without a terminal: step, training loss / accuracy, validation score, time and time left
    (at most what ``limit``, the run's max_train_seconds, leaves)."""
    left = elapsed / done * (steps - done) if done else float("nan")
    if limit > 0:
        left = min(left, max(limit - elapsed, 0.0))
    acc = f" acc {record['acc']:.3f}" if "acc" in record else ""
    return (
        f"step {done}/{steps}: loss {record.get('loss', float('nan')):.4f}{acc}, validation "
        f"{record['val_score']:.4f} +- {record['val_ci95']:.4f}; {elapsed / 60:.1f} min, ~{left / 60:.0f} min left"
    )
