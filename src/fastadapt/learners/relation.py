"""Relation Networks: "Learning to Compare" (Sung, Yang, Zhang, Xiang, Torr & Hospedales, 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.conv4 import InputNorm
from ..tasks.task import TaskBatch
from .base import METHODS, EncoderLearner, FeaturePredictor, Prediction

PROBS = ("odds", "normalize")


def _block(cin: int, cout: int, padding: int, pool: bool) -> nn.Sequential:
    """Conv, BatchNorm, (2x2 max-pool,) ReLU: pooling first is the same function (`fastadapt.nn.reorder`)."""
    pooled = [nn.MaxPool2d(2)] if pool else []
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=padding), nn.BatchNorm2d(cout), *pooled, nn.ReLU(inplace=True))


class RelationEmbedding(nn.Module):
    """The embedding module f_phi of Sung et al. (2018): four 3x3 conv blocks (64 channels, BatchNorm,
    ReLU), unpadded and max-pooled in the first two, padded and unpooled in the last two:
    ``[B, C, 28, 28] -> [B, 64, 5, 5]`` (a feature map, not a vector)."""

    def __init__(
        self,
        in_channels: int = 1,
        hidden: int = 64,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.net = nn.Sequential(
            _block(in_channels, hidden, 0, True),
            _block(hidden, hidden, 0, True),
            _block(hidden, hidden, 1, False),
            _block(hidden, hidden, 1, False),
        )
        self.input_norm = InputNorm(in_channels, mean, std)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.input_norm(x))

    @staticmethod
    def out_size(image_size: int) -> int:
        return ((image_size - 2) // 2 - 2) // 2


class RelationModule(nn.Module):
    """The relation module g_phi: on the depth-concatenation of a class feature map and a query feature map,
    two conv blocks (3x3, BatchNorm, ReLU, 2x2 max-pool), then FC-ReLU (``hidden`` units) and FC to one
    relation logit (the score is its sigmoid).

    The first convolution is linear in its input, so ``conv([a; b]) = conv_a(a) + conv_b(b)``: it is applied
    to the N class maps and Q query maps separately and summed for every (query, class) pair, which is the
    same function at (N + Q) instead of N x Q convolutions.
    """

    def __init__(self, channels: int = 64, map_size: int = 5, hidden: int = 8) -> None:
        super().__init__()
        self.channels = channels
        self.conv1 = nn.Conv2d(2 * channels, channels, 3, padding=1)
        self.post1 = nn.Sequential(nn.BatchNorm2d(channels), nn.MaxPool2d(2), nn.ReLU(inplace=True))
        self.block2 = _block(channels, channels, 1, True)
        side = map_size // 2 // 2
        if side < 1:
            raise ValueError(
                f"Feature maps of side {map_size} are too small for the relation module's two "
                f"2x2 poolings; use larger images (28x28 gives 5x5 maps)."
            )
        self.fc = nn.Sequential(nn.Linear(channels * side * side, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, classes: Tensor, queries: Tensor) -> Tensor:
        """Relation logits ``[..., Q, N]`` of ``queries [..., Q, C, H, W]`` to ``classes [..., N, C, H, W]``."""
        c = self.channels
        w, b = self.conv1.weight, self.conv1.bias
        a = F.conv2d(classes.reshape(-1, *classes.shape[-3:]), w[:, :c], b, padding=1)
        q = F.conv2d(queries.reshape(-1, *queries.shape[-3:]), w[:, c:], None, padding=1)
        a = a.reshape(*classes.shape[:-3], *a.shape[1:])  # [..., N, C, H, W]
        q = q.reshape(*queries.shape[:-3], *q.shape[1:])  # [..., Q, C, H, W]
        pairs = q.unsqueeze(-4) + a.unsqueeze(-5)  # [..., Q, N, C, H, W]
        lead = pairs.shape[:-3]
        h = self.block2(self.post1(pairs.reshape(-1, *pairs.shape[-3:])))
        return self.fc(h.flatten(1)).reshape(lead)


@dataclass
class RelationPredictor(FeaturePredictor):
    """A task adapted by a Relation Network: one summed feature map per class."""

    learner: RelationNet
    class_maps: Tensor

    def feature_logits(self, maps: Tensor) -> Tensor:
        """Relation logits ``[..., Q, N]`` of query feature maps (with ``eval_bn="transductive"`` the pairs are one
        batch)."""
        with self.learner.test_statistics():
            return self.learner.relation(self.class_maps, maps)

    def logits(self, x: Tensor) -> Tensor:
        """Relation logits ``[..., Q, N]`` of query images (with ``eval_bn="transductive"`` they are one batch)."""
        return self.feature_logits(self.learner.test_embed(x))

    def scores(self, x: Tensor) -> Tensor:
        """Relation scores in (0, 1), ``[..., Q, N]`` (not probabilities: they need not sum to one)."""
        return torch.sigmoid(self.logits(x))

    def predict_features(self, maps: Tensor) -> Prediction:
        return self.learner.prediction(self.feature_logits(maps))


@METHODS.register("relation")
class RelationNet(EncoderLearner):
    """Relation Network (Sung et al., 2018): an embedding module maps images to feature maps; a class's map is
    the **sum** of its support maps over shots; the relation module scores every (query, class) pair in
    (0, 1), trained by mean squared error against the one-hot match (1 for the query's class, 0 otherwise).

    Relation scores are not probabilities. Class probabilities are a softmax over the relation *logits*
    (the pre-sigmoid scores), i.e. proportional to the odds ``r / (1 - r)`` of each class (``probs="odds"``,
    the default); ``probs="normalize"`` instead divides the scores by their sum (softmax over ``log r``).
    The argmax, hence accuracy, is the same either way.

    ``eval_bn="transductive"`` tests as the paper's released code does (it never calls ``eval()``): the
    support set, the query set and the (query, class) pairs are each normalized with their own batch
    statistics (see :class:`Learner`).
    """

    def __init__(
        self,
        in_channels: int = 1,
        hidden: int = 64,
        image_size: int = 28,
        relation_hidden: int = 8,
        probs: str = "odds",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if probs not in PROBS:
            raise ValueError(f"probs must be one of {PROBS}, got {probs!r}.")
        self.encoder = RelationEmbedding(in_channels, hidden, mean, std).to(memory_format=torch.channels_last)
        self.relation = RelationModule(hidden, RelationEmbedding.out_size(image_size), relation_hidden)
        self.probs = probs

    @staticmethod
    def class_maps(maps: Tensor, y: Tensor, ways: int) -> Tensor:
        """Sum over shots: support maps ``[..., S, C, H, W]`` -> ``[..., N, C, H, W]``."""
        onehot = F.one_hot(y.long(), ways).to(maps.dtype)  # [..., S, N]
        summed = onehot.transpose(-1, -2) @ maps.flatten(-3)
        return summed.reshape(*summed.shape[:-1], *maps.shape[-3:])

    def prediction(self, rel_logits: Tensor) -> Prediction:
        return Prediction(logits=rel_logits if self.probs == "odds" else F.logsigmoid(rel_logits))

    def adapt_features(self, maps: Tensor, y: Tensor, ways: int) -> RelationPredictor:
        return RelationPredictor(self, self.class_maps(maps, y, ways))

    def batch_logits(self, batch: TaskBatch) -> Tensor:
        """Relation logits ``[B, Q, N]`` of every task of ``batch``, its images embedded in one pass."""
        support, query = self.embed_jointly(batch)
        return self.adapt_features(support, batch.support_y, batch.ways).feature_logits(query)

    def meta_loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        """Mean squared error between relation scores and one-hot targets (Sung et al., 2018, eq. 3)."""
        logits = self.batch_logits(batch)
        target = F.one_hot(batch.query_y.long(), batch.ways).to(logits.dtype)
        loss = F.mse_loss(torch.sigmoid(logits), target)
        acc = (logits.argmax(-1) == batch.query_y).float().mean()
        return loss, {"loss": loss.item(), "acc": acc.item()}
