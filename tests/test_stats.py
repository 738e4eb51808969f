"""fastadapt.stats.ci95: the one 95% interval (normal, 1.96 standard errors, n - 1 in the variance)."""

from __future__ import annotations

import math

import pytest
import torch

from fastadapt.stats import ci95


def test_ci95_closed_form():
    # values 1, 2, 3, 4: mean 2.5, sample variance 5/3, standard error sqrt(5/3)/2
    assert ci95([1.0, 2.0, 3.0, 4.0]) == pytest.approx(1.96 * math.sqrt(5 / 3) / 2, rel=1e-12)
    assert ci95(torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float16)) == pytest.approx(
        1.96 * math.sqrt(5 / 3) / 2
    )
    assert ci95(torch.full((10,), 0.7)) == 0.0


def test_ci95_of_fewer_than_two_values_is_nan():
    assert math.isnan(ci95([0.5])) and math.isnan(ci95(torch.empty(0)))
