"""Hypernetwork learner: a network that writes the weights of another (Ha, Dai & Le, 2017), used for
few-shot weight generation as in Zhmoginov, Sandler & Vladymyrov (2022, HyperTransformer) and Qiao et
al. (2018): a permutation-invariant set encoder (Deep Sets; Zaheer et al., 2017) over the labelled
support set produces the final classifier layer of the task, and optionally a low-rank delta for a
feature layer in front of it. Adaptation is one forward pass; `HyperPredictor.export()` returns the
generated classifier as a plain ``nn.Module`` for deployment.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.conv4 import Conv4
from ..nn.episodic import embed
from .base import METHODS, FeatureLearner, FeaturePredictor, Prediction
from .protonet import class_means


@dataclass
class GeneratedWeights:
    """Weights generated for a task (leading batch dims free): classifier ``weight [N, D]``, ``bias [N]``
    and, with a low-rank delta, the feature layer ``feature [D, D]`` (identity plus ``U V^T``)."""

    weight: Tensor
    bias: Tensor
    feature: Tensor | None = None


def apply_generated(z: Tensor, w: GeneratedWeights) -> Tensor:
    """Run the generated layers on embeddings ``z [..., Q, D]`` -> logits ``[..., Q, N]``."""
    if w.feature is not None:
        z = z @ w.feature.transpose(-1, -2)
    return z @ w.weight.transpose(-1, -2) + w.bias.unsqueeze(-2)


@dataclass
class HyperPredictor(FeaturePredictor):
    """A task adapted by the hypernetwork: the embedding network plus generated layers."""

    learner: HyperNet
    weights: GeneratedWeights

    def predict_features(self, z: Tensor) -> Prediction:
        return Prediction(logits=apply_generated(z, self.weights))

    def export(self) -> nn.Module:
        """The task's classifier as a stand-alone ``nn.Module`` (a copy of the embedding network in eval
        mode, the generated feature layer if any, and the generated linear classifier): images -> logits."""
        if self.weights.weight.dim() != 2:
            raise ValueError("export() works on a single task's predictor (from adapt), not a batch.")
        layers: list[nn.Module] = [copy.deepcopy(self.learner.encoder)]
        d, n = self.weights.weight.shape[1], self.weights.weight.shape[0]
        if self.weights.feature is not None:
            feat = nn.Linear(d, d, bias=False)
            feat.weight.data.copy_(self.weights.feature.detach())
            layers.append(feat)
        head = nn.Linear(d, n)
        head.weight.data.copy_(self.weights.weight.detach())
        head.bias.data.copy_(self.weights.bias.detach())
        layers.append(head)
        module = nn.Sequential(*layers).eval()
        for p in module.parameters():
            p.requires_grad_(False)
        return module


def mlp(a: int, b: int, c: int, zero_last: bool = False) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, c))
    if zero_last:
        nn.init.zeros_(net[-1].weight)
        nn.init.zeros_(net[-1].bias)
    return net


@METHODS.register("hypernet")
class HyperNet(FeatureLearner):
    """Few-shot weight generation with a Deep-Sets hypernetwork.

    Each support embedding ``z_i`` is encoded by ``rho``; a class summary is the mean of its members'
    codes and the task context the mean of the class summaries, so the output does not depend on the
    order of the support set. Class ``c``'s generated template is ``w_c = mean_c(z) + G([s_c, context])``
    (G zero-initialised, so training starts from prototypes), written as a linear layer with weight
    ``2 w_c`` and bias ``-||w_c||^2`` (the linear form of a squared-distance classifier; Snell 2017).
    With ``rank > 0`` a feature layer ``I + U V^T`` with ``U, V [D, rank]`` generated from the context is
    applied to all embeddings first. BatchNorm in the encoder follows the module mode, as in ProtoNet.
    """

    supports_precision = ("fp32", "bf16", "fp16")  # the encoder runs under autocast (nn.episodic.embed)

    def __init__(self, encoder: nn.Module | None = None, dim: int = 64, set_hidden: int = 256, rank: int = 0) -> None:
        super().__init__()
        if rank < 0:
            raise ValueError(f"rank must be >= 0 (0: no low-rank feature delta), got {rank}.")
        self.encoder = (encoder if encoder is not None else Conv4()).to(memory_format=torch.channels_last)
        self.dim, self.rank = dim, rank
        self.rho = mlp(dim, set_hidden, set_hidden)
        self.generator = mlp(2 * set_hidden, set_hidden, dim, zero_last=True)
        if rank:
            self.low_rank = mlp(set_hidden, set_hidden, 2 * dim * rank, zero_last=True)

    def embed(self, x: Tensor) -> Tensor:
        return embed(self.encoder, x, self.precision)

    def generate(self, z: Tensor, y: Tensor, ways: int) -> GeneratedWeights:
        """Weights for support embeddings ``z [..., S, D]`` with labels ``y [..., S]``."""
        if z.shape[-1] != self.dim:
            raise ValueError(
                f"The encoder gives {z.shape[-1]} features but the hypernetwork expects "
                f"{self.dim}; set dim to the encoder's output size."
            )
        codes = class_means(F.relu(self.rho(z)), y, ways)  # [..., N, H]
        context = codes.mean(-2, keepdim=True)  # [..., 1, H]
        feature = None
        if self.rank:
            uv = self.low_rank(context.squeeze(-2)).view(*z.shape[:-2], 2, self.dim, self.rank)
            eye = torch.eye(self.dim, dtype=z.dtype, device=z.device)
            feature = eye + uv[..., 0, :, :] @ uv[..., 1, :, :].transpose(-1, -2)
            z = z @ feature.transpose(-1, -2)
        templates = class_means(z, y, ways) + self.generator(torch.cat([codes, context.expand_as(codes)], -1))
        return GeneratedWeights(2 * templates, -(templates * templates).sum(-1), feature)

    def adapt_features(self, z: Tensor, y: Tensor, ways: int) -> HyperPredictor:
        return HyperPredictor(self, self.generate(z, y, ways))
