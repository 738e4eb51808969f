"""The Conv4 backbone of Vinyals et al. (2016) and Snell et al. (2017): four blocks of
3x3 conv (64 channels), BatchNorm, ReLU and 2x2 max-pooling."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 conv, BatchNorm, 2x2 max-pool, ReLU: pooling before the ReLU is the same function (see
    `fastadapt.nn.reorder`) at a quarter of the ReLU's cost; parameter names as in conv-BN-ReLU-pool."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.MaxPool2d(2),
        nn.ReLU(inplace=True),
    )


class Conv4(nn.Module):
    """Conv4 embedding: ``[B, C, H, W] -> [B, hidden * (H // 16) * (W // 16)]`` (64 features at 28x28).

    BatchNorm follows the module's mode: in ``train()`` it normalizes with the statistics of the batch it
    sees (for episodic training, the episode); in ``eval()`` with the running averages gathered in
    training, so each query is classified independently of the others (non-transductive).
    """

    def __init__(
        self,
        in_channels: int = 1,
        hidden: int = 64,
        blocks: int = 4,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        chans = [in_channels] + [hidden] * blocks
        self.encoder = nn.Sequential(*(conv_block(a, b) for a, b in zip(chans, chans[1:])))
        self.input_norm = InputNorm(in_channels, mean, std)

    def forward(self, x: Tensor) -> Tensor:
        return self.encoder(self.input_norm(x)).flatten(1)


class InputNorm(nn.Module):
    """Per-channel input standardization ``(x - mean) / std`` for images in [0, 1], fixed by the training data
    set (not learned; kept out of checkpoints, so a model reads the same [0, 1] images whatever its data set).
    With no statistics it is the identity (Omniglot models read raw [0, 1] ink)."""

    def __init__(self, channels: int, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        super().__init__()
        if (mean is None) != (std is None):
            raise ValueError("Give both input mean and std (one value per channel), or neither.")
        self.enabled = mean is not None
        if self.enabled:
            m, s = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
            # checked in float32, as used: 1e-320 becomes 0 there and 1e300 infinity
            if (
                len(m) != channels
                or len(s) != channels
                or not (torch.isfinite(m).all() and (s > 0).all() and torch.isfinite(s).all())
            ):
                raise ValueError(
                    f"input mean/std need {channels} values each (finite, std > 0 in float32), got "
                    f"{list(mean)} / {list(std)}."
                )
            self.register_buffer("mean", m.view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", s.view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if not self.enabled:
            return x
        if x.shape[-3] != self.mean.shape[1]:
            raise ValueError(
                f"This model reads {self.mean.shape[1]}-channel images, got {x.shape[-3]} channels "
                f"(input shape {tuple(x.shape)})."
            )
        return (x - self.mean) / self.std
