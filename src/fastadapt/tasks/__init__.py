"""Task families: episodes (`Task`, `TaskBatch`), the episode sampler, and datasets."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Protocol

from ..registry import Registry, import_submodules
from .sampler import EpisodeSampler
from .task import Task, TaskBatch

__all__ = [
    "DATASETS",
    "REGRESSION_DATASETS",
    "task_type",
    "DATASET_PREFIXES",
    "EpisodeSampler",
    "Task",
    "TaskBatch",
    "TaskSampler",
    "build_sampler",
]


class TaskSampler(Protocol):
    """Anything that yields batches of episodes: ``batch(i, B)`` is the i-th batch, deterministic
    given the sampler's seed. `EpisodeSampler` is the one for labelled datasets."""

    ways: int | None
    shots: int
    queries: int

    def batch(self, index: int, batch_size: int = 1) -> TaskBatch: ...


@lru_cache(maxsize=8)
def _omniglot(split: str, part: str, root: str, size: int):
    from .omniglot import omniglot_classes

    return omniglot_classes(split, part, root=root or None, size=size)


# Config value of "split" -> (named character split, its part for each of train / val / test).
# "vinyals-trainval" trains on the 1,200 train + validation characters (Santoro 2016 and Snell 2017 train on
# 1,200 characters); its validation characters are then seen in training, so validation only tracks progress.
SPLIT_PARTS = {
    "vinyals": ("vinyals", {"train": "train", "val": "val", "test": "test"}),
    "vinyals-trainval": ("vinyals", {"train": "trainval", "val": "val", "test": "test"}),
    "lake": ("lake", {"train": "background", "val": "evaluation", "test": "evaluation"}),
}


def omniglot_sampler(
    cfg: dict[str, Any], part: str, ways: int, shots: int, queries: int, seed: int, within_group: bool = False
) -> EpisodeSampler:
    if cfg["split"] not in SPLIT_PARTS:
        raise ValueError(f"Unknown Omniglot split {cfg['split']!r}; choose one of {sorted(SPLIT_PARTS)}.")
    split, parts = SPLIT_PARTS[cfg["split"]]
    data = _omniglot(split, parts[part], cfg.get("data_root", ""), cfg["image_size"])
    return EpisodeSampler(
        data.x, data.y, ways, shots, queries, groups=data.groups[data.y], within_group=within_group, seed=seed
    )


# Task families by the name used in configs' "dataset" key. Each factory takes
# (cfg, part, ways, shots, queries, seed, within_group) and returns a TaskSampler; a module of this
# package registers its own with ``@DATASETS.register("name")``.
DATASETS = Registry("dataset")
DATASETS.register("omniglot")(omniglot_sampler)
# Factories for "dataset" values "<prefix>:<argument>", e.g. "folder:/data/birds" (tasks.own_data registers it).
DATASET_PREFIXES: dict[str, Callable[..., TaskSampler]] = {}


REGRESSION_DATASETS = ("sinusoid", "gp", "linreg")  # task families without classes


def task_type(dataset: str) -> str:
    """What the tasks of data set ``dataset`` ask for: ``"classification"``, ``"regression"`` or ``"rl"``."""
    if dataset in REGRESSION_DATASETS:
        return "regression"
    from .rl_envs import FAMILIES

    return "rl" if dataset in FAMILIES else "classification"


def dataset_factory(name: str) -> Callable[..., TaskSampler]:
    """The factory of a config ``dataset`` value: a registered name, or ``<prefix>:<argument>``."""
    prefix, sep, _ = name.partition(":")
    if sep and prefix in DATASET_PREFIXES:
        return DATASET_PREFIXES[prefix]
    try:
        return DATASETS.get_or_raise(name)
    except ValueError as e:
        forms = ", ".join(f"{p}:..." for p in sorted(DATASET_PREFIXES))
        raise ValueError(
            f"{e} Also {forms} (your own images: folder:/path/to/DIR holding DIR/<class>/<images>)."
            if forms
            else str(e)
        ) from None


def build_sampler(
    cfg: dict[str, Any], part: str, ways: int, shots: int, queries: int, seed: int, within_group: bool = False
) -> TaskSampler:
    """A task sampler over ``part`` (train / val / test) of the task family named by ``cfg["dataset"]``."""
    return dataset_factory(cfg["dataset"])(cfg, part, ways, shots, queries, seed, within_group)


import_submodules(sys.modules[__name__], skip=("task", "sampler", "omniglot", "folders"))
