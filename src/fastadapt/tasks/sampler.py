"""Vectorized, seeded N-way K-shot episode sampling over any labelled tensor dataset
(the episodic protocol of Vinyals et al., 2016)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..seeding import seeded_generator
from .task import TaskBatch


class EpisodeSampler:
    """Draws N-way K-shot episodes with Q queries per class from ``x`` labelled by ``y``.

    All work per episode is tensor indexing: no Python loop over images. Classes are relabelled
    ``0..ways-1`` in random order in every episode. With ``groups`` (one group id per example, e.g. the
    alphabet of its class) and ``within_group=True`` every episode draws its classes from a single group (Lake 2015).

    Episode ``i`` depends only on ``(seed, i)``, so the same seed gives the same episodes in any order,
    after a resume, or on another rank.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        ways: int,
        shots: int,
        queries: int,
        *,
        groups: Tensor | None = None,
        within_group: bool = False,
        seed: int = 0,
    ) -> None:
        for name, value in (("ways", ways), ("shots", shots), ("queries", queries)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x has {x.shape[0]} examples but y has {y.shape[0]} labels; they must match.")
        if x.is_floating_point():
            bad = (~torch.isfinite(x.reshape(len(x), -1))).any(1)
            if bad.any():
                raise ValueError(
                    f"{int(bad.sum())} examples contain NaN or Inf (first at index "
                    f"{int(bad.nonzero()[0])}); clean or drop them before sampling episodes."
                )
        self.x, self.ways, self.shots, self.queries, self.seed = x, ways, shots, queries, seed
        self.class_ids = False  # see use_class_ids
        classes, y_idx, counts = torch.unique(y, return_inverse=True, return_counts=True)
        self.num_classes = len(classes)
        if ways > self.num_classes:
            raise ValueError(
                f"Asked for {ways}-way episodes but the dataset has only {self.num_classes} "
                f"classes; use at most {self.num_classes} ways."
            )
        need = shots + queries
        eligible = counts >= need
        if int(eligible.sum()) < ways:
            raise ValueError(
                f"Asked for {shots} shots + {queries} queries = {need} examples per class, but "
                f"only {int(eligible.sum())} classes hold that many (need {ways}); the largest "
                f"class holds {int(counts.max())}. Lower shots or queries."
            )
        # [C, max_count] table of example indices per class, padded with -1.
        order = torch.argsort(y_idx, stable=True)
        starts = torch.cumsum(counts, 0) - counts
        pos = torch.arange(len(y)) - starts[y_idx[order]]
        self.table = torch.full((self.num_classes, int(counts.max())), -1, dtype=torch.long)
        self.table[y_idx[order], pos] = order
        self.counts = counts
        self.eligible = eligible
        self.group_of = None
        if within_group:
            if groups is None or groups.shape[0] != y.shape[0]:
                raise ValueError(
                    "within_group=True needs `groups`: one group id per example (e.g. the "
                    "alphabet of its class), as many as labels."
                )
            group_of_class = torch.zeros(self.num_classes, dtype=torch.long)
            group_of_class[y_idx] = groups.long()
            self.group_of = group_of_class
            ids, sizes = torch.unique(group_of_class[eligible], return_counts=True)
            self.usable_groups = ids[sizes >= ways]
            if len(self.usable_groups) == 0:
                raise ValueError(
                    f"within_group sampling: no group has {ways} classes with {need} examples "
                    f"each (largest group: {int(sizes.max())} classes)."
                )

    def use_class_ids(self) -> None:
        """Label every batch by class id (``0..C-1`` in sorted order of ``y``) instead of a random relabelling:
        with ``ways`` equal to the number of classes a batch is then a class-balanced labelled minibatch, as
        supervised pre-training (Chen 2019; Tian 2020) needs."""
        if self.ways != self.num_classes or self.group_of is not None:
            raise ValueError(
                f"Class-id labels need batches over all {self.num_classes} classes (ways={self.ways} "
                f"was asked) and no within-group sampling; set train_ways={self.num_classes}."
            )
        self.class_ids = True

    def _generator(self, index: int) -> torch.Generator:
        return seeded_generator(self.seed, index)

    def _class_scores(self, b: int, g: torch.Generator) -> Tensor:
        scores = torch.rand(b, self.num_classes, generator=g)
        scores[:, ~self.eligible] = -1.0
        if self.group_of is not None:
            pick = self.usable_groups[torch.randint(len(self.usable_groups), (b,), generator=g)]
            scores[self.group_of.unsqueeze(0) != pick.unsqueeze(1)] = -1.0
        return scores

    def batch(self, index: int, batch_size: int = 1) -> TaskBatch:
        """The ``index``-th batch of ``batch_size`` episodes (deterministic given the seed)."""
        g = self._generator(index)
        n, k, q = self.ways, self.shots, self.queries
        cls = self._class_scores(batch_size, g).topk(n, dim=1).indices  # [B, N], random order
        if self.class_ids:
            cls = cls.sort(dim=1).values  # label i = class i
        scores = torch.rand(batch_size, n, self.table.shape[1], generator=g)
        scores[self.counts[cls].unsqueeze(-1) <= torch.arange(self.table.shape[1])] = -1.0
        pos = scores.topk(k + q, dim=2).indices  # [B, N, K+Q]
        idx = self.table[cls.unsqueeze(-1), pos]
        xs = self.x[idx]  # [B, N, K+Q, ...]
        if xs.dtype == torch.uint8:
            xs = xs.float().div_(255.0)
        labels = torch.arange(n).view(1, n, 1)
        support_x = xs[:, :, :k].reshape(batch_size, n * k, *xs.shape[3:])
        query_x = xs[:, :, k:].reshape(batch_size, n * q, *xs.shape[3:])
        return TaskBatch(
            support_x,
            labels.expand(batch_size, n, k).reshape(batch_size, n * k),
            query_x,
            labels.expand(batch_size, n, q).reshape(batch_size, n * q),
            ways=n,
        )
