"""The Conv4 backbone of Vinyals et al. (2016) and Snell et al. (2017): four blocks of
3x3 conv (64 channels), BatchNorm, ReLU and 2x2 max-pooling."""
from __future__ import annotations

from torch import Tensor, nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 conv, BatchNorm, 2x2 max-pool, ReLU: pooling before the ReLU is the same function (see
    `fastadapt.nn.reorder`) at a quarter of the ReLU's cost; parameter names as in conv-BN-ReLU-pool."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels),
                         nn.MaxPool2d(2), nn.ReLU(inplace=True))


class Conv4(nn.Module):
    """Conv4 embedding: ``[B, C, H, W] -> [B, hidden * (H // 16) * (W // 16)]`` (64 features at 28x28).

    BatchNorm follows the module's mode: in ``train()`` it normalizes with the statistics of the batch it
    sees (for episodic training, the episode); in ``eval()`` with the running averages gathered in
    training, so each query is classified independently of the others (non-transductive).
    """

    def __init__(self, in_channels: int = 1, hidden: int = 64, blocks: int = 4) -> None:
        super().__init__()
        chans = [in_channels] + [hidden] * blocks
        self.encoder = nn.Sequential(*(conv_block(a, b) for a, b in zip(chans, chans[1:])))

    def forward(self, x: Tensor) -> Tensor:
        return self.encoder(x).flatten(1)
