"""Gradient preprocessing (Andrychowicz 2016, Appendix A) on fixed inputs."""

import math

import pytest
import torch

from fastadapt.optim.preprocess import preprocess_gradient


def test_matches_formula_on_fixed_inputs():
    g = torch.tensor([1.0, -0.5, 1e-5, -1e-6, 0.0, 3.0e4], dtype=torch.float64)
    out = preprocess_gradient(g, p=10.0)
    e10 = math.exp(10.0)
    expected = torch.tensor(
        [
            [0.0, 1.0],  # |g| >= e^-10: (log|g|/p, sign g)
            [math.log(0.5) / 10, -1.0],
            [-1.0, 1e-5 * e10],  # 1e-5 < e^-10 = 4.54e-5: (-1, e^p g)
            [-1.0, -1e-6 * e10],
            [-1.0, 0.0],
            [math.log(3.0e4) / 10, 1.0],
        ],
        dtype=torch.float64,
    )
    torch.testing.assert_close(out, expected)


def test_threshold_and_other_p():
    t = math.exp(-5.0)
    out = preprocess_gradient(torch.tensor([t * 1.001, t * 0.999], dtype=torch.float64), p=5.0)
    assert out[0, 0] == pytest.approx(math.log(t * 1.001) / 5) and out[0, 1] == 1.0
    assert out[1, 0] == -1.0 and out[1, 1] == pytest.approx(0.999)


def test_shape_and_bad_p():
    assert preprocess_gradient(torch.randn(3, 4)).shape == (3, 4, 2)
    with pytest.raises(ValueError, match="positive"):
        preprocess_gradient(torch.ones(2), p=0.0)
