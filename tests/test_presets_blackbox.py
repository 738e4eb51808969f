"""Presets of issue 6 (presets/omniglot_blackbox.py): each builds its learner and takes a training step."""

import pytest
import torch

from fastadapt.configs import build_learner
from fastadapt.learners.lstm_learner import LSTMLearner
from fastadapt.presets import get_preset
from fastadapt.tasks.task import TaskBatch

NAMES = [
    "omniglot-mann-5class",
    "omniglot-mann-15class",
    "omniglot-hypernet-5w1s",
    "omniglot-hypernet-20w1s",
    "omniglot-lstm-5w1s",
    "omniglot-lstm-20w1s",
]


@pytest.mark.parametrize("name", NAMES)
def test_preset_builds_and_steps(name):
    cfg = get_preset(name)
    torch.manual_seed(0)
    learner = build_learner(cfg)
    n, k, q = cfg["train_ways"], cfg["train_shots"], 2
    batch = TaskBatch(
        torch.rand(1, n * k, 1, 28, 28),
        torch.arange(n).repeat_interleave(k)[None],
        torch.rand(1, n * q, 1, 28, 28),
        torch.arange(n).repeat_interleave(q)[None],
        ways=n,
    )
    loss, metrics = learner.meta_loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and "acc" in metrics
    assert all(p.grad is not None for p in learner.parameters() if p.requires_grad)
    if isinstance(learner, LSTMLearner):  # sized so the identity ("filing") initialisation applies
        assert learner.lstm.hidden_size >= cfg["lstm_max_ways"] * cfg["lstm_embed"]
