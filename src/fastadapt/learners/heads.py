"""Heads on embedded support sets, shared by the metric and pre-training learners: class means, the power transform,
L2 normalization and a logistic-regression head fitted per task."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.optim.adam import adam


def class_means(z: Tensor, y: Tensor, ways: int) -> Tensor:
    """Mean embedding per class: ``z [..., S, D]``, ``y [..., S]`` -> ``[..., ways, D]``."""
    onehot = F.one_hot(y.long(), ways).to(z.dtype)  # [..., S, N]
    counts = onehot.sum(-2).clamp_min(1).unsqueeze(-1)  # [..., N, 1]
    return onehot.transpose(-1, -2) @ z / counts


def power_transform(z: Tensor, beta: float = 0.5, eps: float = 1e-6) -> Tensor:
    """``(z + eps) ** beta`` of non-negative features (Hu, Gripon & Pateux 2021, "Leveraging the Feature
    Distribution in Transfer-based Few-Shot Learning"): makes ReLU features closer to Gaussian per class."""
    if beta <= 0:
        raise ValueError(f"The power transform's beta must be positive, got {beta}.")
    return (z.clamp_min(0) + eps).pow(beta)


def log_cosine_scale(scale: float) -> Tensor:
    """``log(scale)`` of a cosine head's inverse temperature, the form in which Matching Networks and ProtoNet store it
    (learned, it is the metric scaling of Oreshkin et al., 2018); refuses a scale that is not positive and finite."""
    if not 0 < scale < math.inf:
        raise ValueError(
            f"scale (the cosine's inverse temperature, cosine_scale) must be a positive finite number, got {scale}."
        )
    return torch.tensor(math.log(scale))


def normalize_features(z: Tensor) -> Tensor:
    """L2-normalized features (RFS and SimpleShot (Wang 2019) classify normalized embeddings)."""
    return F.normalize(z, dim=-1)


def fit_logistic(
    z: Tensor, y: Tensor, ways: int, steps: int = 100, lr: float = 0.5, weight_decay: float = 5e-4, scale: float = 10.0
) -> tuple[Tensor, Tensor]:
    """Multinomial logistic regression on features ``z [..., S, D]`` (any leading task dims, fitted jointly and
    independently per task) by full-batch Adam from the class means: weights ``[..., N, D]`` and biases ``[..., N]``.
    RFS fits scikit-learn's LogisticRegression on the support features; this is the same model, batched on tensors.
    Adam is PyTorch's functional form (`torch.optim.adam.adam`, the same update as ``torch.optim.Adam``): building an
    ``Optimizer`` object imports torch._dynamo on first use, about 1 s of a 5-s ``fastadapt adapt``."""
    params = [(scale * class_means(z, y, ways)).detach(), torch.zeros(*z.shape[:-2], ways, device=z.device)]
    moments = [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]
    counts = [torch.tensor(0.0) for _ in params]
    target, z = y.long().reshape(-1), z.detach()
    for _ in range(steps):
        with torch.enable_grad():
            w, b = leaves = [p.detach().requires_grad_(True) for p in params]
            logits = z @ w.transpose(-1, -2) + b.unsqueeze(-2)
            decay = weight_decay * w.square().sum() / max(1, w[..., 0, 0].numel())
            grads = torch.autograd.grad(F.cross_entropy(logits.reshape(-1, ways), target) + decay, leaves)
        adam(params, list(grads), *moments, [], counts, amsgrad=False, beta1=0.9, beta2=0.999, lr=lr,
             weight_decay=0.0, eps=1e-8, maximize=False)  # fmt: skip
    return params[0], params[1]
