"""Episodes as sequences (Santoro et al., 2016): every example of an episode is shown one step at a time
together with the label of the *previous* step, so a model must bind each image to the label that
arrives one step later. Built on top of any episodic `TaskBatch` (e.g. from `EpisodeSampler` on held-out
Omniglot classes, whose class-to-label assignment is already random per episode)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch
from torch import Tensor

from .task import TaskBatch


@dataclass
class SequenceBatch:
    """``B`` sequences of length ``T``: inputs ``x [B, T, ...]``, targets ``y [B, T]``, the label shown
    with each step ``prev_y [B, T]`` (``y`` shifted right by one; ``-1`` at step 0, meaning "no label")
    and ``instance [B, T]``: 1 at the first presentation of a class in its sequence, 2 at the second, ..."""

    x: Tensor
    y: Tensor
    prev_y: Tensor
    instance: Tensor
    ways: int

    def __len__(self) -> int:
        return self.x.shape[0]


def shifted_labels(y: Tensor) -> Tensor:
    """The label shown at each step: the previous step's label, ``-1`` at the first step. ``y [..., T]``."""
    return torch.cat([torch.full_like(y[..., :1], -1), y[..., :-1]], dim=-1)


def instance_index(y: Tensor, ways: int) -> Tensor:
    """How many times the class of each step has been presented so far, counting this step (1-based)."""
    onehot = torch.nn.functional.one_hot(y.long(), ways)  # [..., T, N]
    return (onehot.cumsum(-2) * onehot).sum(-1)


def random_orders(batch_size: int, length: int, generator: torch.Generator | None = None) -> Tensor:
    """One random permutation of ``0..length-1`` per row: ``[batch_size, length]``."""
    return torch.rand(batch_size, length, generator=generator).argsort(dim=1)


def batch_generator(batch: TaskBatch) -> torch.Generator:
    """A generator seeded by a batch's pixels, for random orders that a resumed training run repeats
    (the trainer's batches are a function of its seed and step)."""
    sample = batch.support_x[..., ::5, ::5].mul(255).to(torch.uint8).cpu().numpy().tobytes()
    return torch.Generator().manual_seed(zlib.crc32(sample))


def as_sequence(batch: TaskBatch, generator: torch.Generator | None = None, shuffle: bool = True) -> SequenceBatch:
    """All support and query examples of each episode in one sequence (randomly ordered in time when
    ``shuffle``), with previous-step labels and instance counts. Labels keep the episode's random
    class-to-label assignment."""
    if batch.ways is None:
        raise ValueError("as_sequence needs a classification TaskBatch (ways set); got a regression batch.")
    x = torch.cat([batch.support_x, batch.query_x], dim=1)
    y = torch.cat([batch.support_y, batch.query_y], dim=1)
    if shuffle:
        order = random_orders(x.shape[0], x.shape[1], generator).to(x.device)
        y = y.gather(1, order)
        x = x[torch.arange(x.shape[0], device=x.device).unsqueeze(1), order]
    return SequenceBatch(x, y, shifted_labels(y), instance_index(y, batch.ways), batch.ways)


def permute_support(batch: TaskBatch, order: str = "shuffled", generator: torch.Generator | None = None) -> TaskBatch:
    """The same episodes with each support set reordered: ``"shuffled"`` (random per episode),
    ``"sorted"`` (by label, as `EpisodeSampler` emits them) or ``"reversed"``. Used to measure how much a
    sequential learner depends on the order it reads its support set in."""
    b, s = batch.support_y.shape
    if order == "shuffled":
        idx = random_orders(b, s, generator)
    elif order == "sorted":
        idx = batch.support_y.argsort(dim=1, stable=True)
    elif order == "reversed":
        idx = torch.arange(s - 1, -1, -1).expand(b, s)
    else:
        raise ValueError(f"order must be 'shuffled', 'sorted' or 'reversed', got {order!r}.")
    idx = idx.to(batch.support_y.device)
    rows = torch.arange(b, device=idx.device).unsqueeze(1)
    return TaskBatch(
        batch.support_x[rows, idx], batch.support_y.gather(1, idx), batch.query_x, batch.query_y, ways=batch.ways
    )


class SequenceSampler:
    """Sequences for memory-augmented learners (Santoro 2016) from an episodic sampler: episode ``i`` of
    ``episodes`` (N classes, ``shots + queries`` examples each) becomes one sequence of length
    ``N * (shots + queries)`` in random order. Deterministic given the sampler's seed and ``index``."""

    def __init__(self, episodes, seed: int = 0) -> None:
        if getattr(episodes, "ways", None) is None:
            raise ValueError("SequenceSampler needs a classification episode sampler (with ways).")
        self.episodes, self.seed = episodes, seed
        self.ways = episodes.ways
        self.length = episodes.ways * (episodes.shots + episodes.queries)

    def batch(self, index: int, batch_size: int = 1) -> SequenceBatch:
        g = torch.Generator().manual_seed((self.seed * 999_983 + index) % (2**63 - 1))
        return as_sequence(self.episodes.batch(index, batch_size), generator=g)


def omniglot_sequences(cfg: dict, part: str, ways: int, instances: int, seed: int) -> SequenceSampler:
    """Santoro-style Omniglot sequences over the classes of ``part`` (train / val / test): ``ways`` classes
    with ``instances`` drawings each, i.e. sequences of length ``ways * instances``."""
    from . import build_sampler

    if instances < 2:
        raise ValueError(f"instances must be at least 2 (one labelled, one to predict), got {instances}.")
    return SequenceSampler(build_sampler(cfg, part, ways, 1, instances - 1, seed), seed=seed)
