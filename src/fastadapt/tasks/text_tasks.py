"""Few-shot episodes over labelled text tasks given as JSONL files (``{"input", "output", "options"}`` per
line), for MetaICL (Min 2022) through the common trainer: an episode holds k demonstrations and M queries of
one task; labels are option indices (``ways`` = the most options of any task; fewer are padded by the learner).
With ``tasks_dir`` empty the CLINC150 domains are the tasks (7 training domains, 3 unseen test domains)."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import DATASETS
from .clinc150 import _cache_dir, clinc_folder, domain_split, load_clinc
from .task import TaskBatch

Example = dict[str, Any]


# --- Task files ---------------------------------------------------------------------------------------------


def validate_example(ex: Any, where: str = "") -> Example:
    if not isinstance(ex, dict) or not {"input", "output", "options"} <= set(ex):
        raise ValueError(f"{where}: each example must be an object with keys input, output, options; got {ex!r:.200}.")
    if not isinstance(ex["options"], list) or ex["output"] not in ex["options"]:
        raise ValueError(f"{where}: the output {ex['output']!r} must be one of the options {ex['options']!r:.200}.")
    return ex


def load_task(path: str | os.PathLike) -> list[Example]:
    """Examples of one task from a JSONL file (``{"input", "output", "options"}`` per line)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No task file {path}; expected a JSONL file of {{input, output, options}} lines.")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                out.append(validate_example(json.loads(line), f"{path}:{n}"))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n} is not valid JSON ({e.msg}).") from None
    if not out:
        raise ValueError(f"{path} holds no examples.")
    return out


def load_tasks(folder: str | os.PathLike, names: Iterable[str] | None = None) -> dict[str, list[Example]]:
    """Tasks ``<folder>/<name>.jsonl`` (all of them when ``names`` is None)."""
    folder = Path(folder)
    names = sorted(p.stem for p in folder.glob("*.jsonl")) if names is None else list(names)
    if not names:
        raise FileNotFoundError(f"No *.jsonl task files in {folder}.")
    return {n: load_task(folder / f"{n}.jsonl") for n in names}


def write_task(path: str | os.PathLike, examples: list[Example]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(json.dumps(validate_example(e), ensure_ascii=False) + "\n" for e in examples))


def clinc150_tasks(folder: str | os.PathLike, root: str = "") -> tuple[list[str], list[str]]:
    """Write one JSONL task per CLINC150 domain (input: utterance; output and options: intent names with
    spaces) into ``folder``; returns (training domains, test domains) of the split of `tasks/clinc150.py`."""
    data = load_clinc(root)
    train, test = domain_split({}, data)
    for dom in data.domains:
        ids = [i for i, d in enumerate(data.domain_of) if d == dom]
        options = [data.intents[i].replace("_", " ") for i in ids]
        exs = [
            {"input": t, "output": data.intents[int(y)].replace("_", " "), "options": options}
            for t, y in zip(data.texts, data.intent.tolist())
            if y in ids
        ]
        write_task(Path(folder) / f"{dom}.jsonl", exs)
    return list(train), list(test)


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
    folder = cfg.get("tasks_dir", "")
    train, test = cfg.get("train_tasks", ""), cfg.get("test_tasks", "")
    if not folder:
        folder = str(_cache_dir(clinc_folder(cfg.get("data_root") or None)) / "metaicl-tasks")
        if not Path(folder, "travel.jsonl").exists():
            tr, te = clinc150_tasks(folder, cfg.get("data_root", ""))
        else:
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
