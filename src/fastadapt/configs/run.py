"""The typed settings of a training run: schedule, optimizer, time limit, augmentation, seeds and device, checked
once before any work is done (`fastadapt.train.trainer.check_config`) and read by the trainer as attributes."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..tasks.augment import AUGMENTATIONS
from .typed import ConfigError, setting


def _positive_int(v: int) -> bool:
    return v >= 1


def _positive_number(v: float) -> bool:
    return math.isfinite(v) and v > 0


def _count() -> int:
    """A required count of steps or episodes."""
    return setting(what="a positive integer", ok=_positive_int, example="N")


@dataclass(frozen=True)
class TrainConfig:
    """How long and how the meta-optimizer trains, how often it logs, checkpoints and validates, and where."""

    steps: int = setting(what="a non-negative integer (0: no meta-training)", ok=lambda v: v >= 0, example="N")
    log_every: int = _count()
    ckpt_every: int = _count()
    val_every: int = _count()
    meta_batch: int = _count()
    lr_decay_every: int = _count()
    eval_episodes: int = _count()
    val_episodes: int = _count()
    lr: float = setting(1e-3, what="a positive number", ok=_positive_number, example="0.001 (for example)")
    lr_decay: float = setting(0.5, what="a positive number", ok=_positive_number, example="0.5 (for example)")
    max_train_seconds: float = setting(
        0.0, what="a number >= 0 (0: no time limit)", ok=lambda v: v >= 0, example="3600 (for example)"
    )
    grad_clip: float = setting(
        0.0, what="a number >= 0 (0: no clipping)", ok=lambda v: math.isfinite(v) and v >= 0, example="1.0"
    )
    augment: str = setting(
        "", what=f"one of {AUGMENTATIONS} ('': none)", ok=lambda v: v in AUGMENTATIONS, example="natural"
    )
    seed: int = 0
    eval_seed: int = 2017
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.ckpt_every % self.log_every:
            raise ConfigError(
                f"ckpt_every ({self.ckpt_every}) must be a multiple of log_every "
                f"({self.log_every}) so a resumed run logs exactly what an uninterrupted one does."
            )
