"""Helpers for episodic models: run an image encoder over inputs with any leading dimensions."""
from __future__ import annotations

import torch
from torch import Tensor, nn


def embed(encoder: nn.Module, x: Tensor) -> Tensor:
    """``encoder`` over images ``x [..., C, H, W]`` -> ``[..., *out]`` (flattened batch, channels-last,
    which is ~1.3x faster for these convolutions on CPU). The encoder's output keeps its own shape
    (a vector for Conv4, a feature map for the Relation Network's embedding)."""
    if x.dim() < 4:
        raise ValueError(f"Expected images shaped [..., C, H, W], got a tensor of shape {tuple(x.shape)}.")
    lead = x.shape[:-3]
    z = encoder(x.reshape(-1, *x.shape[-3:]).contiguous(memory_format=torch.channels_last))
    return z.reshape(*lead, *z.shape[1:])
