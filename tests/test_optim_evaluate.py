"""Comparison of a learned optimizer with tuned baselines: bands, paired differences, plots."""

import math

import pytest
import torch

from fastadapt.optim.evaluate import band, compare, curve_stats, plot_curves
from fastadapt.optim.problems import QuadraticFamily
from fastadapt.optim.rules import LSTMRule


def test_band_and_curve_stats():
    m, ci, n = band([1.0, 2.0, 3.0, math.inf])
    assert (m, n) == (2.0, 3) and ci == pytest.approx(1.96 * 1.0 / math.sqrt(3))
    st = curve_stats([[4.0, 2.0], [2.0, math.inf]])
    assert st["mean"] == [3.0, 2.0] and st["diverged"] == 1 and st["final_per_problem"] == [2.0, math.inf]
    assert st["geo_mean"][0] == pytest.approx(math.sqrt(8.0), rel=1e-5)  # geometric mean of 4 and 2 (6 digits kept)
    assert st["geo_lo"][0] < st["geo_mean"][0] < st["geo_hi"][0] and st["final_geo_mean"] == pytest.approx(2.0)


def test_compare_runs_everything_on_the_same_problems(tmp_path):
    torch.manual_seed(0)
    tuned = {"adam": {"lr": 0.1}, "sgd": {"lr": 1e-3}}
    res = compare(LSTMRule(hidden=4), QuadraticFamily("test"), tuned, horizon=6, n_problems=3)
    assert set(res["optimizers"]) == {"learned", "adam", "sgd"}
    first = [st["mean"][0] for st in res["optimizers"].values()]
    assert max(first) - min(first) < 1e-4 * max(first)  # same starting points
    assert len(res["optimizers"]["adam"]["mean"]) == 7 and res["optimizers"]["adam"]["lr"] == 0.1
    assert 0.0 <= res["vs_adam"]["learned_better_fraction"] <= 1.0 and res["learned_overhead_x"] > 0
    plot_curves(res, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
