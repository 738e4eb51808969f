"""Siamese networks for one-shot image recognition (Koch, Zemel & Salakhutdinov, 2015)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.conv4 import Conv4
from ..nn.episodic import embed
from ..nn.modes import evaluating
from ..seeding import seeded_generator
from ..stats import ci95
from ..tasks import TaskSampler
from ..tasks.task import TaskBatch
from .base import METHODS, FeatureLearner, FeaturePredictor, Prediction
from .protonet import class_means


def sample_pairs(
    y: Tensor, generator: torch.Generator | None = None, per_example: int = 1
) -> tuple[Tensor, Tensor, Tensor]:
    """Balanced verification pairs within each episode of labels ``y [..., M]``.

    Every example ``i`` is paired with ``per_example`` distinct random *other* examples of its own class
    (target 1) and as many distinct random examples of *different* classes (target 0), so the pairs are
    exactly half same, half different, and a "different" pair never holds two examples of one class.
    Returns index tensors ``first, second [..., 2 * M * per_example]`` into the last dimension of ``y`` and
    float targets ``same`` of that shape.
    """
    if per_example <= 0:
        raise ValueError(f"per_example must be a positive integer, got {per_example}.")
    m = y.shape[-1]
    eq = y.unsqueeze(-1) == y.unsqueeze(-2)  # [..., M, M]
    same_ok = eq & ~torch.eye(m, dtype=torch.bool, device=y.device)
    diff_ok = ~eq
    if int(same_ok.sum(-1).min()) < per_example:
        raise ValueError(
            f"Siamese pair sampling with {per_example} same-class partner(s) per example needs at "
            f"least {per_example + 1} examples of every class in an episode (shots + queries); "
            f"the smallest class has {int(same_ok.sum(-1).min()) + 1}. Raise train_shots or "
            f"train_queries, or lower siamese_pairs."
        )
    if int(diff_ok.sum(-1).min()) < per_example:
        raise ValueError(
            f"Siamese pair sampling needs at least {per_example} examples of other classes per "
            f"example; raise train_ways."
        )
    u = torch.rand(2, *eq.shape, generator=generator).to(y.device)
    partner_same = u[0].masked_fill(~same_ok, -1.0).topk(per_example, -1).indices  # [..., M, P] distinct
    partner_diff = u[1].masked_fill(~diff_ok, -1.0).topk(per_example, -1).indices
    first = torch.arange(m, device=y.device).unsqueeze(-1).expand(partner_same.shape).flatten(-2)
    second = torch.cat([partner_same.flatten(-2), partner_diff.flatten(-2)], -1)
    same = torch.cat([torch.ones_like(first, dtype=torch.float), torch.zeros_like(first, dtype=torch.float)], -1)
    return torch.cat([first, first], -1), second, same


@dataclass
class SiamesePredictor(FeaturePredictor):
    """A task adapted by a Siamese network: the embedded support set and its labels."""

    learner: Siamese
    support_z: Tensor
    support_y: Tensor
    ways: int

    def predict_features(self, z: Tensor) -> Prediction:
        return Prediction(logits=self.learner.class_logits(z, self.support_z, self.support_y, self.ways))

    def same_class(self, a: Tensor, b: Tensor) -> Tensor:
        """Probability that images ``a`` and ``b`` (``[..., C, H, W]``, same shape) show the same class."""
        return self.learner.same_class(a, b)


@METHODS.register("siamese")
class Siamese(FeatureLearner):
    """Siamese network (Koch et al., 2015): twin Conv4 embeddings ``h`` (shared weights) and a learned
    weighted-L1 similarity ``logit(a, b) = sum_j alpha_j |h(a)_j - h(b)_j| + beta``; ``sigmoid(logit)`` is the
    probability that ``a`` and ``b`` show one class. Meta-trained with binary cross-entropy on balanced
    same/different pairs drawn inside each training episode (:func:`sample_pairs`, ``pairs_per_example``
    same-class and as many other-class partners per image), so only training classes are seen.

    Classification (``adapt``): a query's score for class ``c`` is its pair logit averaged over the ``c``
    support examples (one-shot: its similarity to the single example, Koch's nearest-example rule). The
    similarities are not class probabilities; they become probabilities by a **softmax over these
    per-class mean pair logits** (the pair logits are log-odds of "same", so this is the normalized
    geometric mean of the odds of each class).

    Pair draws use a generator seeded by ``seed`` and a draw counter kept in the state dict, so a resumed
    training draws the same pairs as an uninterrupted one.
    """

    supports_precision = ("fp32", "bf16", "fp16")  # the encoder runs under autocast (nn.episodic.embed)

    def __init__(
        self, encoder: nn.Module | None = None, features: int = 64, pairs_per_example: int = 1, seed: int = 0
    ) -> None:
        super().__init__()
        self.encoder = (encoder if encoder is not None else Conv4()).to(memory_format=torch.channels_last)
        self.head = nn.Linear(features, 1)  # the weighted L1 distance (alpha, beta)
        with torch.no_grad():  # start as "far apart = different"
            self.head.weight.fill_(-1.0 / features**0.5)
            self.head.bias.fill_(1.0)
        self.seed, self.pairs_per_example = seed, pairs_per_example
        self.register_buffer("pair_draws", torch.zeros((), dtype=torch.long))

    def embed(self, x: Tensor) -> Tensor:
        return embed(self.encoder, x, self.precision)

    def pair_logits(self, za: Tensor, zb: Tensor) -> Tensor:
        """Log-odds that embeddings ``za`` and ``zb`` (broadcastable ``[..., D]``) share a class."""
        return self.head((za - zb).abs()).squeeze(-1)

    def same_class(self, a: Tensor, b: Tensor) -> Tensor:
        """Verification: probability that images ``a`` and ``b`` (same shape ``[..., C, H, W]``) share a class."""
        if a.shape != b.shape:
            raise ValueError(f"same_class compares images pairwise; got shapes {tuple(a.shape)} and {tuple(b.shape)}.")
        z = self.embed(torch.stack([a, b]))
        return torch.sigmoid(self.pair_logits(z[0], z[1]))

    def class_logits(self, zq: Tensor, zs: Tensor, ys: Tensor, ways: int) -> Tensor:
        """Per-class mean pair logits ``[..., Q, N]`` of queries ``zq [..., Q, D]`` against ``zs [..., S, D]``."""
        pl = self.pair_logits(zq.unsqueeze(-2), zs.unsqueeze(-3))  # [..., Q, S]
        return class_means(pl.transpose(-1, -2), ys, ways).transpose(-1, -2)

    def adapt_features(self, z: Tensor, y: Tensor, ways: int) -> SiamesePredictor:
        return SiamesePredictor(self, z, y, ways)

    def _generator(self) -> torch.Generator:
        g = seeded_generator(self.seed, int(self.pair_draws))
        self.pair_draws += 1
        return g

    def meta_loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        """Binary cross-entropy on balanced same/different pairs of the batch's images (support and
        queries together); ``acc`` is the verification accuracy of those pairs."""
        y = torch.cat([batch.support_y, batch.query_y], 1)
        z = self.embed(torch.cat([batch.support_x, batch.query_x], 1))  # [B, M, D]
        first, second, same = sample_pairs(y.cpu(), self._generator(), self.pairs_per_example)
        first, second, same = first.to(z.device), second.to(z.device), same.to(z.device)
        pick = lambda idx: z.gather(1, idx.unsqueeze(-1).expand(-1, -1, z.shape[-1]))  # noqa: E731, B023
        logits = self.pair_logits(pick(first), pick(second))
        loss = F.binary_cross_entropy_with_logits(logits, same)
        acc = ((logits > 0).float() == same).float().mean()
        return loss, {"loss": loss.item(), "acc": acc.item()}


@torch.no_grad()
def verification_accuracy(
    learner: Siamese, sampler: TaskSampler, episodes: int = 1000, batch_size: int = 50, seed: int = 0
) -> dict[str, float]:
    """Same/different accuracy (threshold 0.5) and mean BCE on balanced pairs drawn from ``episodes``
    episodes of ``sampler`` (support and queries together), with a 95% CI over episodes."""

    with evaluating(learner):
        g = torch.Generator().manual_seed(seed)
        dev = next(learner.parameters()).device
        accs, losses = [], []
        for i, lo in enumerate(range(0, episodes, batch_size)):
            b = sampler.batch(i, min(batch_size, episodes - lo))
            y = torch.cat([b.support_y, b.query_y], 1)
            z = learner.embed(torch.cat([b.support_x, b.query_x], 1).to(dev))
            first, second, same = (t.to(dev) for t in sample_pairs(y, g))
            first, second = (z.gather(1, idx.unsqueeze(-1).expand(-1, -1, z.shape[-1])) for idx in (first, second))
            logits = learner.pair_logits(first, second)
            accs.append(((logits > 0).float() == same).double().mean(-1))
            losses.append(F.binary_cross_entropy_with_logits(logits, same, reduction="none").double().mean(-1))
    acc = torch.cat(accs).cpu()
    return {
        "verification_accuracy": float(acc.mean()),
        "verification_ci95": ci95(acc),
        "verification_bce": float(torch.cat(losses).mean()),
        "episodes": len(acc),
    }
