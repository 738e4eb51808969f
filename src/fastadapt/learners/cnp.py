"""Conditional Neural Processes (Garnelo et al., 2018a).

An encoder MLP maps each context pair ``(x_i, y_i)`` to ``r_i``; the task representation is their mean
``r`` (so predictions do not depend on the order of the context points); a decoder MLP maps ``(r, x)`` to a
Gaussian mean and standard deviation ``m + (1 - m) softplus(.)`` with floor ``m = min_std`` (0.1 in
Garnelo et al.'s code; the floor caps the log-likelihood per point at ``-log(m) - 0.92``).
Trained by maximum likelihood of the targets; as in the paper the context points are decoded too
(``train_on_context``). ``adapt`` is one forward pass of the encoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..tasks.task import TaskBatch
from .base import METHODS, Learner, Prediction


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def check_process_args(encoder_layers: int, decoder_layers: int, min_std: float) -> None:
    """An encoder of at least one layer (its output is the ``hidden``-wide representation), a decoder of zero or
    more hidden layers (np_encoder_layers, np_decoder_layers) and a predictive std floor in (0, 1)."""
    if not 0 < min_std < 1:
        raise ValueError(f"min_std (the predictive standard deviation floor) must lie in (0, 1), got {min_std}.")
    if encoder_layers < 1 or decoder_layers < 0:
        raise ValueError(
            f"encoder_layers must be >= 1 and decoder_layers >= 0 (np_encoder_layers, np_decoder_layers), "
            f"got {encoder_layers} and {decoder_layers}."
        )


def check_regression_set(x: Tensor, y: Tensor, what: str) -> None:
    """Context/target tensors must be ``[..., N, dx]`` and ``[..., N, dy]`` with ``N >= 1``."""
    if x.dim() < 2 or y.dim() < 2 or x.shape[:-1] != y.shape[:-1]:
        raise ValueError(
            f"{what} x and y must be [..., N, dim] with the same leading shape, got "
            f"{tuple(x.shape)} and {tuple(y.shape)}. Add a trailing dimension for 1-D data "
            f"(x.unsqueeze(-1))."
        )
    if x.shape[-2] == 0:
        raise ValueError(f"{what} set is empty; a neural process needs at least one context point.")


def gaussian_log_prob(mean: Tensor, std: Tensor, y: Tensor) -> Tensor:
    """Elementwise log N(y; mean, std^2)."""
    return -0.5 * (math.log(2 * math.pi) + 2 * torch.log(std) + ((y - mean) / std) ** 2)


def targets_with_context(batch: TaskBatch, train_on_context: bool) -> tuple[Tensor, Tensor]:
    """The points to decode in training: the queries, with the context prepended (Garnelo et al.)."""
    if not train_on_context:
        return batch.query_x, batch.query_y
    return torch.cat([batch.support_x, batch.query_x], -2), torch.cat([batch.support_y, batch.query_y], -2)


@dataclass
class CNPPredictor:
    """A task adapted by a CNP: its aggregated representation ``r``."""

    learner: CNP
    r: Tensor

    def predict(self, x: Tensor) -> Prediction:
        mean, std = self.learner.decode(self.r, x)
        return Prediction(mean=mean, var=std**2)


@METHODS.register("cnp")
class CNP(Learner):
    """Conditional Neural Process (Garnelo et al., 2018a): deterministic mean-aggregated encoder and a
    factorized Gaussian decoder. Inputs carry any leading batch dimensions: ``[..., N, x_dim]``."""

    task_type = "regression"
    adapts_batches = True

    def __init__(
        self,
        x_dim: int = 1,
        y_dim: int = 1,
        hidden: int = 128,
        encoder_layers: int = 4,
        decoder_layers: int = 2,
        train_on_context: bool = True,
        min_std: float = 0.1,
    ) -> None:
        super().__init__()
        check_process_args(encoder_layers, decoder_layers, min_std)
        self.point_dims = (x_dim, y_dim)  # adapt refuses points of other dimensions (base.check_tensors)
        self.encoder = mlp([x_dim + y_dim] + [hidden] * encoder_layers)
        self.decoder = mlp([hidden + x_dim] + [hidden] * decoder_layers + [2 * y_dim])
        self.train_on_context, self.min_std = train_on_context, min_std

    def encode(self, x: Tensor, y: Tensor) -> Tensor:
        """Mean of the encoded context pairs: ``[..., N, dx], [..., N, dy] -> [..., H]``."""
        check_regression_set(x, y, "Context")
        return self.encoder(torch.cat([x, y], -1)).mean(-2)

    def decode(self, r: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """Gaussian mean and standard deviation ``[..., T, dy]`` at ``x [..., T, dx]`` given ``r [..., H]``."""
        rx = r.unsqueeze(-2).expand(*x.shape[:-1], r.shape[-1])
        out = self.decoder(torch.cat([rx, x], -1))
        mean, raw = out.chunk(2, -1)
        return mean, self.min_std + (1 - self.min_std) * F.softplus(raw)

    def adapt(self, support_x: Tensor, support_y: Tensor, ways: int | None = None) -> CNPPredictor:
        return CNPPredictor(self, self.encode(support_x, support_y))

    def meta_loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        """Negative log-likelihood per target point (context points included when ``train_on_context``)."""
        xt, yt = targets_with_context(batch, self.train_on_context)
        mean, std = self.decode(self.encode(batch.support_x, batch.support_y), xt)
        loss = -gaussian_log_prob(mean, std, yt).mean()
        return loss, {"loss": loss.item()}

    @torch.no_grad()
    def log_likelihood(self, batch: TaskBatch) -> Tensor:
        """Per-task mean log-likelihood per target point ``[B]`` (the predictive factorizes over points)."""
        mean, std = self.decode(self.encode(batch.support_x, batch.support_y), batch.query_x)
        return gaussian_log_prob(mean, std, batch.query_y).flatten(1).mean(-1)
