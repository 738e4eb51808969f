"""Gradient preprocessing of Andrychowicz et al. (2016), Appendix A: each coordinate's gradient becomes two
inputs, its log-magnitude and its sign, so that gradients spanning many orders of magnitude reach the
network on a common scale; tiny gradients (below e^-p) are passed linearly instead."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def preprocess_gradient(grad: Tensor, p: float = 10.0) -> Tensor:
    """``grad`` of any shape -> ``[..., 2]``:

    (log|g| / p, sign(g))   if |g| >= e^-p
    (-1,         e^p g)     otherwise          (Andrychowicz 2016, Appendix A)
    """
    if p <= 0:
        raise ValueError(f"preprocessing constant p must be positive (the paper uses 10), got {p}.")
    thresh = math.exp(-p)
    mag = grad.abs()
    big = mag >= thresh
    log_part = torch.where(big, torch.log(mag.clamp_min(thresh)) / p, torch.full_like(grad, -1.0))
    sign_part = torch.where(big, torch.sign(grad), grad * math.exp(p))
    return torch.stack([log_part, sign_part], dim=-1)
