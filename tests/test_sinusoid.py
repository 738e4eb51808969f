"""Sinusoid regression tasks (Finn 2017) and a short MAML training on them."""

from __future__ import annotations

import math

import pytest
import torch

from fastadapt.configs import build_learner
from fastadapt.presets import get_preset
from fastadapt.tasks import build_sampler
from fastadapt.tasks.sinusoid import SinusoidTasks


def test_tasks_follow_finn_2017_and_are_deterministic():
    tasks = SinusoidTasks(5, 20, seed=3)
    b = tasks.batch(7, 64)
    assert b.support_x.shape == (64, 5, 1) and b.query_y.shape == (64, 20, 1) and b.ways is None
    amp, phase = tasks.task_params(7, 64)
    assert 0.1 <= amp.min() and amp.max() <= 5 and 0 <= phase.min() and phase.max() <= math.pi
    assert b.support_x.abs().max() <= 5
    torch.testing.assert_close(b.query_y, amp * torch.sin(b.query_x - phase))
    assert torch.equal(tasks.batch(7, 64).support_x, b.support_x)
    assert not torch.equal(SinusoidTasks(5, 20, seed=3, part="test").batch(7, 64).support_x, b.support_x)


def test_registered_and_rejects_ways():
    cfg = get_preset("sinusoid-maml-10shot")
    assert build_sampler(cfg, "test", None, 10, 100, 0).shots == 10
    with pytest.raises(ValueError, match="regression"):
        build_sampler(cfg, "test", 5, 10, 100, 0)


@pytest.mark.slow
def test_short_maml_training_makes_adaptation_pay_off():
    cfg = get_preset("sinusoid-maml-10shot")
    torch.manual_seed(0)
    learner = build_learner(cfg)
    train = build_sampler(cfg, "train", None, 10, 10, seed=0)
    opt = torch.optim.Adam(learner.parameters(), 3e-3)
    for i in range(600):
        loss, _ = learner.meta_loss(train.batch(i, 25))
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = build_sampler(cfg, "test", None, 10, 100, seed=1).batch(0, 300)
    learner.eval()
    with torch.no_grad():
        pre = learner.batched(test, steps=0)[0].mean().item()
        post = learner.batched(test, steps=1)[0].mean().item()
    assert post < 0.6 * pre, (pre, post)
