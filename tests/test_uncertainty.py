"""Uncertainty tools (train/uncertainty.py)."""

import math

import pytest
import torch

from fastadapt.learners.base import Prediction
from fastadapt.learners.cnp import CNP
from fastadapt.learners.np import NeuralProcess
from fastadapt.tasks.gp import GPTasks, Kernel
from fastadapt.train.uncertainty import (
    interval_coverage,
    plot_gp_fits,
    predictive_entropy,
    predictive_variance,
    regression_report,
)


def test_entropy_extremes():
    assert predictive_entropy(torch.full((4,), 0.25)).item() == pytest.approx(math.log(4))
    assert predictive_entropy(torch.tensor([1.0, 0.0, 0.0])).item() == pytest.approx(0.0, abs=1e-9)


def test_coverage_of_calibrated_and_overconfident_gaussians():
    torch.manual_seed(0)
    mean, sd = torch.randn(200_000), torch.rand(200_000) + 0.5
    y = mean + sd * torch.randn(200_000)
    cov = interval_coverage(mean, sd**2, y)
    assert cov["50"] == pytest.approx(0.5, abs=0.01) and cov["90"] == pytest.approx(0.9, abs=0.01)
    assert cov["95"] == pytest.approx(0.95, abs=0.01)
    over = interval_coverage(mean, sd**2 / 4, y)
    assert over["90"] < 0.7  # bands half as wide cover far less
    with pytest.raises(ValueError, match="levels"):
        interval_coverage(mean, sd, y, levels=(1.5,))


def test_regression_report_and_missing_variance():
    y = torch.zeros(10, 1)
    rep = regression_report(Prediction(mean=y, var=torch.ones(10, 1)), y)
    assert rep["log_likelihood"] == pytest.approx(-0.5 * math.log(2 * math.pi))
    assert rep["coverage"]["95"] == 1.0
    with pytest.raises(ValueError, match="no variance"):
        predictive_variance(Prediction(mean=y))


@pytest.mark.parametrize("model", [CNP(hidden=16), NeuralProcess(hidden=16, latent=8)])
def test_gp_fit_plot_is_written(tmp_path, model):
    tasks = list(GPTasks(context=6, targets=20, seed=0).batch(0, 2))
    path = tmp_path / "fits.png"
    plot_gp_fits(path, model, tasks, Kernel(), 0.02, samples=3)
    assert path.stat().st_size > 10_000 and model.training
