"""Prototypical Networks (Snell, Swersky & Zemel, 2017)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.conv4 import Conv4
from .base import METHODS, EncoderLearner, FeaturePredictor, Prediction
from .heads import class_means, fit_logistic, log_cosine_scale, power_transform  # noqa: F401 (class_means re-exported)

DISTANCES = ("euclidean", "cosine")
TRANSFORMS = ("", "power")  # "power": Hu et al. 2021's power transform of (non-negative) features


def prototype_logits(q: Tensor, protos: Tensor, distance: str, scale: float) -> Tensor:
    """Logits of queries ``q [..., Q, D]`` against prototypes ``[..., N, D]``."""
    if distance == "cosine":
        return scale * F.normalize(q, dim=-1) @ F.normalize(protos, dim=-1).transpose(-1, -2)
    sq = (q * q).sum(-1, keepdim=True) - 2 * q @ protos.transpose(-1, -2) + (protos * protos).sum(-1).unsqueeze(-2)
    return -sq.clamp_min(0)


def refine_prototypes(
    protos: Tensor, support: Tensor, support_y: Tensor, query: Tensor, steps: int, logits_fn, temperature: float = 1.0
) -> Tensor:
    """Transductive prototypes: ``steps`` rounds of soft k-means over the episode's unlabelled queries (Ren et al.
    2018, "Meta-Learning for Semi-Supervised Few-Shot Classification"). Each round assigns every query to the classes
    by ``softmax(logits_fn(query, protos) / temperature)`` and recomputes each prototype as the mean of its support
    examples and its softly assigned queries. Shapes: ``protos [..., N, D]``, ``support [..., S, D]``,
    ``query [..., Q, D]``."""
    onehot = F.one_hot(support_y.long(), protos.shape[-2]).to(support.dtype)  # [..., S, N]
    total, count = onehot.transpose(-1, -2) @ support, onehot.sum(-2).unsqueeze(-1)  # [..., N, D], [..., N, 1]
    for _ in range(steps):
        w = torch.softmax(logits_fn(query, protos) / temperature, dim=-1)  # [..., Q, N]
        protos = (total + w.transpose(-1, -2) @ query) / (count + w.sum(-2).unsqueeze(-1))
    return protos


@dataclass
class PrototypePredictor(FeaturePredictor):
    """A task adapted by ProtoNet: one prototype per class in embedding space (and, with ``head_steps``, the bias of
    the head fitted from them). A transductive ProtoNet (``transductive_steps``) keeps the support embeddings and
    refines the prototypes with each set of queries it is given, so a query's prediction depends on the others."""

    learner: ProtoNet
    prototypes: Tensor
    bias: Tensor | None = None
    support: tuple[Tensor, Tensor] | None = None

    def predict_features(self, q: Tensor) -> Prediction:
        return Prediction(
            logits=self.learner.logits(q, self.learner.transduce(self.prototypes, self.support, q), self.bias)
        )


@METHODS.register("protonet")
class ProtoNet(EncoderLearner):
    """Prototypical Networks (Snell et al., 2017): a class is the mean of its embedded support examples;
    a query is classified by a softmax over negative squared Euclidean distances to the prototypes
    (cosine similarity times ``scale`` as an option; ``learn_scale`` meta-learns that inverse temperature,
    the metric scaling of Oreshkin et al., 2018).

    BatchNorm in the encoder follows the module mode (``train()``: episode statistics; ``eval()``:
    running statistics, non-transductive; ``eval_bn="transductive"``: support and queries each by their own
    batch statistics, see :class:`Learner`). Inputs may carry leading batch dimensions.
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        distance: str = "euclidean",
        scale: float = 10.0,
        learn_scale: bool = False,
        feature_transform: str = "",
        head_steps: int = 0,
        transductive_steps: int = 0,
        transductive_temperature: float = 1.0,
    ) -> None:
        super().__init__()
        if transductive_steps < 0 or (transductive_steps and head_steps) or not transductive_temperature > 0:
            raise ValueError(
                f"transductive_steps (soft k-means rounds over the queries) must be >= 0, cannot be "
                f"combined with head_steps, and transductive_temperature must be positive; got "
                f"transductive_steps={transductive_steps}, head_steps={head_steps}, "
                f"transductive_temperature={transductive_temperature}."
            )
        self.transductive_steps, self.transductive_temperature = transductive_steps, transductive_temperature
        if head_steps < 0 or (head_steps and distance != "cosine"):
            raise ValueError(
                f"head_steps (fitting the cosine head on the support set) must be >= 0 and needs "
                f"distance='cosine'; got head_steps={head_steps}, distance={distance!r}."
            )
        self.head_steps = head_steps
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}.")
        if feature_transform not in TRANSFORMS:
            raise ValueError(f"feature_transform must be one of {TRANSFORMS}, got {feature_transform!r}.")
        self.feature_transform = feature_transform
        # channels-last is ~1.3x faster for these convolutions on CPU (benchmarks/throughput.py).
        self.encoder = (encoder if encoder is not None else Conv4()).to(memory_format=torch.channels_last)
        if learn_scale and distance != "cosine":
            raise ValueError(
                f"learn_scale needs distance='cosine' (it learns the cosine's inverse temperature); got "
                f"distance={distance!r}."
            )
        log_scale = log_cosine_scale(scale)
        self.distance, self.fixed_scale = distance, scale
        if learn_scale:  # only then a parameter, so checkpoints of fixed-scale models load unchanged
            self.log_scale = nn.Parameter(log_scale)

    @property
    def scale(self) -> float | Tensor:
        """The cosine logits' inverse temperature: learned (``learn_scale``) or fixed."""
        return self.log_scale.exp() if hasattr(self, "log_scale") else self.fixed_scale

    def embed(self, x: Tensor) -> Tensor:
        z = super().embed(x)
        return power_transform(z) if self.feature_transform == "power" else z

    def prototypes(self, support: Tensor, y: Tensor, ways: int) -> tuple[Tensor, Tensor | None]:
        """Class means; with ``head_steps`` the cosine head they define, refined by logistic regression on the support
        set (the prototype-initialized last layer of Triantafillou 2020's Proto-MAML, fitted as RFS fits its head)."""
        if not self.head_steps:
            return class_means(support, y, ways), None
        return fit_logistic(F.normalize(support, dim=-1), y, ways, steps=self.head_steps, scale=self.scale)

    def transduce(self, protos: Tensor, support: tuple[Tensor, Tensor] | None, query: Tensor) -> Tensor:
        """The prototypes refined with the queries (`refine_prototypes`) when transductive, else unchanged."""
        if not self.transductive_steps or support is None:
            return protos
        if self.distance == "cosine":  # soft k-means on the sphere the cosine logits live on
            (z, y), query = support, F.normalize(query, dim=-1)
            support = (F.normalize(z, dim=-1), y)
            protos = class_means(support[0], y, protos.shape[-2])
        return refine_prototypes(
            protos,
            *support,
            query,
            self.transductive_steps,
            lambda q, p: self.logits(q, p, None),
            self.transductive_temperature,
        )

    def logits(self, query: Tensor, protos: Tensor, bias: Tensor | None) -> Tensor:
        if bias is None:
            return prototype_logits(query, protos, self.distance, self.scale)
        return F.normalize(query, dim=-1) @ protos.transpose(-1, -2) + bias.unsqueeze(-2)

    def adapt_features(self, z: Tensor, y: Tensor, ways: int) -> PrototypePredictor:
        return PrototypePredictor(
            self, *self.prototypes(z, y, ways), support=(z, y) if self.transductive_steps else None
        )
