"""One rule for deterministic randomness: the random stream of item ``index`` (an episode batch, a training step)
of a run with seed ``seed`` depends on those two numbers only, so any item can be redrawn alone and a resumed run
draws exactly what an uninterrupted one does."""

from __future__ import annotations

import torch

STRIDE = 1_000_003  # a prime: seeds s and s + 1 give unrelated streams for the first million items
MODULUS = 2**63 - 1  # torch.Generator takes 64-bit seeds


def stream_seed(seed: int, index: int, offset: int = 0) -> int:
    """The seed of item ``index`` of a run seeded ``seed``; ``offset`` separates streams drawn for one item."""
    return (seed * STRIDE + index) % MODULUS + offset


def seeded_generator(seed: int, index: int, offset: int = 0) -> torch.Generator:
    """A CPU `torch.Generator` seeded with `stream_seed`."""
    return torch.Generator().manual_seed(stream_seed(seed, index, offset))
