"""The one 95% confidence interval every evaluation reports: the normal interval of a mean over independent
episodes, tasks, problems or sequences (1.96 standard errors, the sample standard deviation with n - 1)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def ci95(values: Tensor | Sequence[float]) -> float:
    """Half-width of the normal 95% confidence interval of the mean of ``values`` (NaN for fewer than two)."""
    v = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    n = len(v)
    return float(1.96 * v.std(unbiased=True) / math.sqrt(n)) if n > 1 else float("nan")
