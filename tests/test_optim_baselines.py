"""Hand-designed baselines and their learning-rate tuning."""

import math

import pytest
import torch

from fastadapt.optim.baselines import BASELINES, final_score, run_optimizer, tune
from fastadapt.optim.problems import QuadraticFamily


def test_sgd_run_matches_closed_form_gradient_descent():
    p = QuadraticFamily("train").problem(0)
    lr = 1e-3
    losses, secs = run_optimizer(p, lambda ps: torch.optim.SGD(ps, lr=lr), 5)
    theta = p.theta0.clone()
    expected = []
    for _ in range(5):
        r = p.W @ theta - p.y
        expected.append(float(r @ r))
        theta = theta - lr * 2 * p.W.T @ r
    r = p.W @ theta - p.y
    expected.append(float(r @ r))
    assert losses == pytest.approx(expected, rel=1e-5)
    assert secs > 0


def test_divergence_is_recorded_as_inf_and_tuning_avoids_it():
    p = QuadraticFamily("train").problem(0)
    losses, _ = run_optimizer(p, lambda ps: torch.optim.SGD(ps, lr=10.0), 40)
    assert len(losses) == 41 and losses[-1] == math.inf
    assert final_score([[1.0, 2.0], [3.0, 4.0]]) == 3.0 and final_score([[1.0, math.inf]]) == math.inf
    res = tune(QuadraticFamily("val"), 2, 30, names=("sgd", "adam"), grid=(1e-4, 1e-2, 10.0))
    assert res["sgd"]["scores"][2] == math.inf and res["sgd"]["lr"] != 10.0
    assert res["adam"]["score"] == min(res["adam"]["scores"]) and set(res) == {"sgd", "adam"}
    with pytest.raises(ValueError, match="Unknown baseline"):
        tune(QuadraticFamily("val"), 1, 5, names=("lbfgs",))
    assert set(BASELINES) == {"sgd", "momentum", "adam", "rmsprop"}
