"""Few-shot episodes over labelled text tasks given as JSONL files (``{"input", "output", "options"}`` per
line), for MetaICL (Min 2022) through the common trainer: an episode holds k demonstrations and M queries of
one task; labels are option indices (``ways`` = the most options of any task; fewer are padded by the learner).
With ``tasks_dir`` empty the CLINC150 domains are the tasks (7 training domains, 3 unseen test domains)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import DATASETS
from .task import TaskBatch


@dataclass
class TextTaskBatch(TaskBatch):
    """A `TaskBatch` whose examples are text: ``demos[b]`` and ``query_examples[b]`` are lists of
    ``{"input", "output", "options"}``; the tensors hold option indices (``*_x`` are placeholders)."""

    demos: list = field(default_factory=list)
    query_examples: list = field(default_factory=list)


class TextEpisodes:
    def __init__(self, tasks: dict[str, list[dict]], shots: int, queries: int, seed: int, cycle: bool) -> None:
        if not tasks:
            raise ValueError("No text tasks given.")
        small = {n: len(e) for n, e in tasks.items() if len(e) < shots + queries}
        if small:
            raise ValueError(f"Tasks {sorted(small)} hold fewer than shots + queries = {shots + queries} examples.")
        self.tasks, self.names = tasks, sorted(tasks)
        self.ways = max(len(e[0]["options"]) for e in tasks.values())
        self.shots, self.queries, self.seed, self.cycle = shots, queries, seed, cycle

    def batch(self, index: int, batch_size: int = 1) -> TextTaskBatch:
        rng = random.Random(self.seed * 1_000_003 + index)
        demos, queries = [], []
        for j in range(batch_size):
            name = self.names[(index * batch_size + j) % len(self.names)] if self.cycle else rng.choice(self.names)
            ex = self.tasks[name]
            pick = rng.sample(range(len(ex)), self.shots + self.queries)
            demos.append([ex[i] for i in pick[: self.shots]])
            queries.append([ex[i] for i in pick[self.shots :]])

        def labels(rows: list[list[dict]]) -> torch.Tensor:
            return torch.tensor([[e["options"].index(e["output"]) for e in r] for r in rows], dtype=torch.long)

        return TextTaskBatch(
            torch.zeros(batch_size, self.shots),
            labels(demos),
            torch.zeros(batch_size, self.queries),
            labels(queries),
            ways=self.ways,
            demos=demos,
            query_examples=queries,
        )


def task_collection(cfg: dict[str, Any]) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """(training tasks, test tasks) named by ``tasks_dir``/``train_tasks``/``test_tasks`` (comma lists);
    CLINC150 domains when ``tasks_dir`` is empty."""
    from ..text.metaicl import clinc150_tasks, load_tasks

    folder = cfg.get("tasks_dir", "")
    train, test = cfg.get("train_tasks", ""), cfg.get("test_tasks", "")
    if not folder:
        from .clinc150 import _cache_dir, clinc_folder

        folder = str(_cache_dir(clinc_folder(cfg.get("data_root") or None)) / "metaicl-tasks")
        if not Path(folder, "travel.jsonl").exists():
            tr, te = clinc150_tasks(folder, cfg.get("data_root", ""))
        else:
            from .clinc150 import domain_split, load_clinc

            tr, te = domain_split(cfg, load_clinc(cfg.get("data_root", "")))
        train, test = train or ",".join(tr), test or ",".join(te)
    if not train or not test:
        raise ValueError(
            "Name the training and test tasks: --set train_tasks=a,b --set test_tasks=c (files "
            "<tasks_dir>/<name>.jsonl)."
        )
    overlap = set(train.split(",")) & set(test.split(","))
    if overlap:
        raise ValueError(f"Tasks {sorted(overlap)} are both training and test tasks; test tasks must be unseen.")
    return load_tasks(folder, train.split(",")), load_tasks(folder, test.split(","))


@DATASETS.register("text-tasks")
def text_task_sampler(
    cfg: dict[str, Any], part: str, ways: int | None, shots: int, queries: int, seed: int, within_group: bool = False
) -> TextEpisodes:
    train, test = task_collection(cfg)
    # Validation uses the training tasks (other episodes): the test tasks stay unseen until the test.
    return TextEpisodes(
        test if part == "test" else train, shots, queries, seed + (part == "val"), cycle=part != "train"
    )
