"""Image backbones chosen by name (``backbone=conv4|resnet12|efficientnet_lite0``): each maps ``[B, C, H, W]`` images
in [0, 1] to features, standardizing its input with the training data set's channel statistics (`InputNorm`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .conv4 import Conv4, InputNorm

BACKBONES = ("conv4", "resnet12", "efficientnet_lite0")


class ResNet12Block(nn.Module):
    """Three 3x3 conv-BN-LeakyReLU(0.1) layers with a 1x1 conv-BN shortcut, then 2x2 max-pooling (Lee et al. 2019,
    MetaOptNet; Tian et al. 2020, RFS), with optional DropBlock (Ghiasi et al. 2018) after the pooling."""

    def __init__(self, cin: int, cout: int, drop_block: float = 0.0, block_size: int = 5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)]
            if i < 2:
                layers.append(nn.LeakyReLU(0.1))
        self.body = nn.Sequential(*layers)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.act, self.pool = nn.LeakyReLU(0.1), nn.MaxPool2d(2)
        self.drop_block, self.block_size = drop_block, block_size

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.act(self.body(x) + self.shortcut(x)))
        if self.training and self.drop_block > 0:
            x = drop_block(x, self.drop_block, min(self.block_size, x.shape[-1]))
        return x


def drop_block(x: Tensor, p: float, size: int) -> Tensor:
    """DropBlock (Ghiasi et al. 2018): zero ``size`` x ``size`` squares so that about a fraction ``p`` of the units
    is dropped, and rescale the rest."""
    h, w = x.shape[-2:]
    gamma = p * h * w / (size**2 * max((h - size + 1) * (w - size + 1), 1))
    seeds = (torch.rand(x.shape[0], x.shape[1], h, w, device=x.device) < gamma).to(x.dtype)
    mask = 1 - nn.functional.max_pool2d(seeds, size, stride=1, padding=size // 2)[..., :h, :w]
    return x * mask * (mask.numel() / mask.sum().clamp_min(1))


class ResNet12(nn.Module):
    """ResNet-12 (Lee 2019; Tian 2020): four residual blocks of widths 64-160-320-640, global average pooling to 640
    features (12.4M parameters)."""

    def __init__(
        self,
        in_channels: int = 3,
        widths: Sequence[int] = (64, 160, 320, 640),
        drop_block: float = 0.0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        chans = [in_channels, *widths]
        self.encoder = nn.Sequential(
            *(ResNet12Block(a, b, drop_block if i >= 2 else 0.0) for i, (a, b) in enumerate(zip(chans, chans[1:])))
        )
        self.input_norm = InputNorm(in_channels, mean, std)

    def forward(self, x: Tensor) -> Tensor:
        return self.encoder(self.input_norm(x)).mean((-2, -1))


@dataclass(frozen=True)
class BackboneSpec:
    """Which backbone, for which images: built once from a run's configuration by the learner factories."""

    name: str = "conv4"
    in_channels: int = 1
    hidden: int = 64
    image_size: int = 28
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    drop_block: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.name!r}.")

    def build(self) -> nn.Module:
        if self.name == "conv4":
            return Conv4(self.in_channels, self.hidden, mean=self.mean, std=self.std)
        if self.name == "resnet12":
            return ResNet12(self.in_channels, drop_block=self.drop_block, mean=self.mean, std=self.std)
        from .efficientnet import EfficientNetLite0

        return EfficientNetLite0()  # standardizes as its ImageNet weights were trained, whatever the data set

    @property
    def features(self) -> int:
        """Length of the feature vector the backbone returns for ``image_size`` inputs."""
        if self.name == "conv4":
            side = self.image_size
            for _ in range(4):
                side //= 2
            return self.hidden * side * side
        return 640 if self.name == "resnet12" else 1280
