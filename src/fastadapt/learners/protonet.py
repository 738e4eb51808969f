"""Prototypical Networks (Snell, Swersky & Zemel, 2017)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.conv4 import Conv4
from ..tasks.task import TaskBatch
from .base import METHODS, EncoderLearner, Prediction, backbone_spec, check_finite, check_labels

DISTANCES = ("euclidean", "cosine")
TRANSFORMS = ("", "power")     # "power": Hu et al. 2021's power transform of (non-negative) features


def class_means(z: Tensor, y: Tensor, ways: int) -> Tensor:
    """Mean embedding per class: ``z [..., S, D]``, ``y [..., S]`` -> ``[..., ways, D]``."""
    onehot = F.one_hot(y.long(), ways).to(z.dtype)                       # [..., S, N]
    counts = onehot.sum(-2).clamp_min(1).unsqueeze(-1)                  # [..., N, 1]
    return onehot.transpose(-1, -2) @ z / counts


def power_transform(z: Tensor, beta: float = 0.5, eps: float = 1e-6) -> Tensor:
    """``(z + eps) ** beta`` of non-negative features (Hu, Gripon & Pateux 2021, "Leveraging the Feature
    Distribution in Transfer-based Few-Shot Learning"): makes ReLU features closer to Gaussian per class."""
    if beta <= 0:
        raise ValueError(f"The power transform's beta must be positive, got {beta}.")
    return (z.clamp_min(0) + eps).pow(beta)


def prototype_logits(q: Tensor, protos: Tensor, distance: str, scale: float) -> Tensor:
    """Logits of queries ``q [..., Q, D]`` against prototypes ``[..., N, D]``."""
    if distance == "cosine":
        return scale * F.normalize(q, dim=-1) @ F.normalize(protos, dim=-1).transpose(-1, -2)
    sq = (q * q).sum(-1, keepdim=True) - 2 * q @ protos.transpose(-1, -2) + (protos * protos).sum(-1).unsqueeze(-2)
    return -sq.clamp_min(0)


@dataclass
class PrototypePredictor:
    """A task adapted by ProtoNet: one prototype per class in embedding space."""

    learner: "ProtoNet"
    prototypes: Tensor

    def predict(self, x: Tensor) -> Prediction:
        q = self.learner.test_embed(x)
        return Prediction(logits=prototype_logits(q, self.prototypes, self.learner.distance, self.learner.scale))


@METHODS.register("protonet")
class ProtoNet(EncoderLearner):
    """Prototypical Networks (Snell et al., 2017): a class is the mean of its embedded support examples;
    a query is classified by a softmax over negative squared Euclidean distances to the prototypes
    (cosine similarity times ``scale`` as an option).

    BatchNorm in the encoder follows the module mode (``train()``: episode statistics; ``eval()``:
    running statistics, non-transductive; ``eval_bn="transductive"``: support and queries each by their own
    batch statistics, see :class:`Learner`). Inputs may carry leading batch dimensions.
    """

    def __init__(self, encoder: nn.Module | None = None, distance: str = "euclidean", scale: float = 10.0,
                 feature_transform: str = "") -> None:
        super().__init__()
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}.")
        if feature_transform not in TRANSFORMS:
            raise ValueError(f"feature_transform must be one of {TRANSFORMS}, got {feature_transform!r}.")
        self.feature_transform = feature_transform
        # channels-last is ~1.3x faster for these convolutions on CPU (benchmarks/throughput.py).
        self.encoder = (encoder if encoder is not None else Conv4()).to(memory_format=torch.channels_last)
        self.distance, self.scale = distance, scale

    def embed(self, x: Tensor) -> Tensor:
        z = super().embed(x)
        return power_transform(z) if self.feature_transform == "power" else z

    def adapt(self, support_x: Tensor, support_y: Tensor, ways: int | None = None) -> PrototypePredictor:
        ways = check_labels(support_y, ways)
        check_finite(support_x)
        return PrototypePredictor(self, class_means(self.test_embed(support_x), support_y, ways))

    def predict_jointly(self, batch: TaskBatch) -> Prediction:
        support, query = self.embed_jointly(batch)
        protos = class_means(support, batch.support_y, batch.ways)
        return Prediction(logits=prototype_logits(query, protos, self.distance, self.scale))

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "ProtoNet":
        return cls(backbone_spec(cfg).build(), distance=cfg.get("distance", "euclidean"),
                   feature_transform=cfg.get("feature_transform", ""))
