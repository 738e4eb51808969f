"""VERSA: amortized variational inference over per-class linear weights (Gordon et al., 2019, ML-PIP).

A shared Conv4 feature extractor embeds images; an amortization network maps the mean of each class's
support features (and nothing else) to a diagonal Gaussian over that class's weight vector and bias.
The predictive is a Monte Carlo average over ``samples`` draws, computed with the local
reparameterization trick as in the paper (the logits are linear in the weights, so each query's logit
for class ``c`` is Gaussian: mean ``h . mu_c + mu_b``, variance ``h^2 . s_c^2 + s_b^2``). The returned
logits are ``log mean_l softmax(logits_l)``, so ``Prediction.probs`` is the MC-averaged predictive and the
cross-entropy on them is the ML-PIP objective ``-log (1/L) sum_l p(y | x, w_l)``; ``Prediction.var`` holds
the spread (variance over the draws) of each class probability.

``prototype_init`` (default on; a deviation from the paper for short CPU budgets): the amortized weight
mean is added to ``[h_c, -|h_c|^2 / 2]``, the linear classifier equivalent to ProtoNet's squared-Euclidean
rule (Snell et al., 2017, sec. 2.3), so training starts from a working classifier and the amortization net
learns the correction and the variances. It is still a function of class ``c``'s support alone.

Adaptation is one forward pass. BatchNorm follows the module mode (``train()``: statistics of the episode,
so the per-class weight distributions share them; ``eval()``: running statistics, and each class's
distribution depends only on that class's support).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..nn.conv4 import Conv4
from .base import METHODS, EncoderLearner, FeaturePredictor, Prediction
from .protonet import class_means


def mc_predictive(
    features: Tensor, w_mean: Tensor, w_logvar: Tensor, samples: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """MC predictive for query ``features [..., Q, D]`` and per-class weight posteriors ``[..., N, D + 1]``
    (last column: the bias), by local reparameterization: ``log mean_l softmax(logits_l)`` ``[..., Q, N]``
    and the spread of the class probabilities over the draws (their variance, same shape)."""
    h = torch.cat([features, features.new_ones(*features.shape[:-1], 1)], -1)
    mean = h @ w_mean.transpose(-1, -2)  # [..., Q, N]
    var = (h**2) @ w_logvar.exp().transpose(-1, -2)
    eps = torch.randn((samples, *mean.shape), generator=generator, dtype=mean.dtype).to(mean.device)
    logp = torch.log_softmax(mean + var.sqrt() * eps, -1)  # [L, ..., Q, N]
    spread = logp.detach().exp().var(0, unbiased=False)
    return torch.logsumexp(logp, 0) - math.log(samples), spread


def mc_logits(
    features: Tensor, w_mean: Tensor, w_logvar: Tensor, samples: int, generator: torch.Generator | None = None
) -> Tensor:
    """Log of the MC-averaged class probabilities ``[..., Q, N]`` (see `mc_predictive`)."""
    return mc_predictive(features, w_mean, w_logvar, samples, generator)[0]


@dataclass
class VersaPredictor(FeaturePredictor):
    """A task adapted by VERSA: a Gaussian over each class's linear weights (mean, log-variance)."""

    learner: Versa
    w_mean: Tensor
    w_logvar: Tensor

    def predict_features(self, z: Tensor, samples: int | None = None) -> Prediction:
        logits, spread = mc_predictive(z, self.w_mean, self.w_logvar, samples or self.learner.num_samples())
        return Prediction(logits=logits, var=spread)

    def predict(self, x: Tensor, samples: int | None = None) -> Prediction:
        """Class log-probabilities of images ``x`` from ``samples`` weight draws (default: the learner's)."""
        return self.predict_features(self.learner.test_embed(x), samples)


@METHODS.register("versa")
class Versa(EncoderLearner):
    """VERSA (Gordon et al., 2019). ``samples``: MC draws in training (the paper's L = 10);
    ``eval_samples``: draws in ``eval()`` mode. ``eval_bn="transductive"`` tests as the paper's released code
    does (its BatchNorm always normalizes with batch statistics; support and queries each by their own)."""

    def __init__(
        self,
        encoder: nn.Module | None = None,
        feature_dim: int = 64,
        hidden: int = 256,
        samples: int = 10,
        eval_samples: int = 100,
        init_logvar: float = -6.0,
        prototype_init: bool = True,
    ) -> None:
        super().__init__()
        if samples < 1 or eval_samples < 1:
            raise ValueError(f"samples and eval_samples must be >= 1, got {samples} and {eval_samples}.")
        self.encoder = (encoder if encoder is not None else Conv4()).to(memory_format=torch.channels_last)
        d = feature_dim + 1
        # Amortization network: class-mean feature -> (mean, log-variance) of [w_c, b_c] (ELU MLP, as in the paper).
        self.amortizer = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU())
        self.mean_head, self.logvar_head = nn.Linear(hidden, d), nn.Linear(hidden, d)
        # Start with small weight variances: with unit variances the sampled logits of 64 ReLU features are
        # noise of variance ~|h|^2 and the first thousand episodes are spent shrinking them.
        nn.init.constant_(self.logvar_head.bias, init_logvar)
        nn.init.normal_(self.logvar_head.weight, std=1e-3)
        self.samples, self.eval_samples, self.prototype_init = samples, eval_samples, prototype_init

    def num_samples(self) -> int:
        return self.samples if self.training else self.eval_samples

    def weight_posterior(self, features: Tensor, labels: Tensor, ways: int) -> tuple[Tensor, Tensor]:
        """Mean and log-variance ``[..., N, D + 1]`` of each class's weights from its support features only."""
        pooled = class_means(features, labels, ways)
        h = self.amortizer(pooled)
        mean = self.mean_head(h)
        if self.prototype_init:
            mean = mean + torch.cat([pooled, -0.5 * (pooled**2).sum(-1, keepdim=True)], -1)
        return mean, self.logvar_head(h)

    def adapt_features(self, z: Tensor, y: Tensor, ways: int) -> VersaPredictor:
        return VersaPredictor(self, *self.weight_posterior(z, y, ways))
