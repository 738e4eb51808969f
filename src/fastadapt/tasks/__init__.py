"""Task families: episodes (`Task`, `TaskBatch`), the episode sampler, and datasets."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from .sampler import EpisodeSampler
from .task import Task, TaskBatch

__all__ = ["EpisodeSampler", "Task", "TaskBatch", "build_sampler"]


@lru_cache(maxsize=8)
def _omniglot(split: str, part: str, root: str, size: int):
    from .omniglot import omniglot_classes
    return omniglot_classes(split, part, root=root or None, size=size)


# The evaluation part of each split, and the part used for validation during training.
SPLIT_PARTS = {"vinyals": {"train": "train", "val": "val", "test": "test"},
               "lake": {"train": "background", "val": "evaluation", "test": "evaluation"}}


def build_sampler(cfg: dict[str, Any], part: str, ways: int, shots: int, queries: int, seed: int,
                  within_group: bool = False) -> EpisodeSampler:
    """An episode sampler over ``part`` (train / val / test) of the dataset named in ``cfg``."""
    if cfg["dataset"] != "omniglot":
        raise ValueError(f"Unknown dataset {cfg['dataset']!r}; known: ['omniglot'].")
    parts = SPLIT_PARTS.get(cfg["split"])
    if parts is None:
        raise ValueError(f"Unknown Omniglot split {cfg['split']!r}; choose one of {sorted(SPLIT_PARTS)}.")
    data = _omniglot(cfg["split"], parts[part], cfg.get("data_root", ""), cfg["image_size"])
    return EpisodeSampler(data.x, data.y, ways, shots, queries, groups=data.groups,
                          within_group=within_group, seed=seed)
