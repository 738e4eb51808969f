"""Time budgets: steps that fit a wall-clock budget, measured on real steps."""

import pytest

from fastadapt.presets import get_preset
from fastadapt.train import budget
from fastadapt.train.budget import seconds_per_step, steps_for_budget


def sinusoid_cfg():
    cfg = get_preset("sinusoid-maml-5shot")
    cfg.update(device="cpu", meta_batch=2)
    return cfg


def test_seconds_per_step_is_a_positive_median_of_real_steps():
    s = seconds_per_step(sinusoid_cfg(), warmup=1, timed=3)
    assert 0 < s < 5
    with pytest.raises(ValueError, match="timed"):
        seconds_per_step(sinusoid_cfg(), timed=0)


def test_steps_fill_the_budget_fraction_rounded_to_the_multiple(monkeypatch):
    monkeypatch.setattr(budget, "seconds_per_step", lambda cfg, timed: 0.5)
    assert steps_for_budget({}, 100, fraction=0.8) == (160, 0.5)
    assert steps_for_budget({}, 100, fraction=0.8, multiple=50) == (150, 0.5)
    assert steps_for_budget({}, 1, fraction=0.8, minimum=10) == (10, 0.5)  # never fewer than the minimum
    with pytest.raises(ValueError, match="fraction"):
        steps_for_budget({}, 100, fraction=1.5)
