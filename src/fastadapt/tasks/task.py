"""Episodes: one few-shot task (`Task`) and a stack of them (`TaskBatch`)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor


@dataclass
class Task:
    """One episode: a labelled support set to adapt on and a query set to predict.

    For classification ``support_y``/``query_y`` hold class indices ``0..ways-1``;
    for regression they hold targets and ``ways`` is ``None``.
    """

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor
    ways: int | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Task:
        return replace(
            self,
            **{
                f.name: getattr(self, f.name).to(device, non_blocking=non_blocking)
                for f in fields(self)
                if isinstance(getattr(self, f.name), Tensor)
            },
        )


@dataclass
class TaskBatch(Task):
    """``B`` episodes of equal shapes stacked on a leading dimension: ``support_x`` is ``[B, S, ...]``."""

    def __len__(self) -> int:
        return self.support_x.shape[0]

    def __getitem__(self, i: int) -> Task:
        return Task(self.support_x[i], self.support_y[i], self.query_x[i], self.query_y[i], self.ways)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def chunks(self, size: int) -> list[TaskBatch]:
        """Consecutive sub-batches of ``size`` episodes (the last may be smaller)."""
        if size < 1:
            raise ValueError(f"A chunk holds at least one episode, got size={size}.")
        return [
            replace(
                self,
                **{
                    f.name: getattr(self, f.name)[lo : lo + size]
                    for f in fields(self)
                    if isinstance(getattr(self, f.name), Tensor)
                },
            )
            for lo in range(0, len(self), size)
        ]

    @classmethod
    def stack(cls, tasks: list[Task]) -> TaskBatch:
        """Stack episodes of equal shapes; raises if they differ."""
        if not tasks:
            raise ValueError("TaskBatch.stack needs at least one Task, got an empty list.")
        ways = {t.ways for t in tasks}
        if len(ways) != 1:
            raise ValueError(f"All tasks in a batch must have the same number of ways, got {sorted(ways)}.")
        return cls(
            *(torch.stack([getattr(t, n) for t in tasks]) for n in ("support_x", "support_y", "query_x", "query_y")),
            ways=ways.pop(),
        )
