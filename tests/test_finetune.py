"""Support-set fine-tuning at test time (Hu 2022, P>M>F): the wrapped learner is untouched, the copy fits its
support set better, and the predictions are deterministic."""

from __future__ import annotations

import pytest
import torch

from fastadapt.learners import ProtoNet
from fastadapt.learners.finetune import SupportFineTuning
from fastadapt.nn.conv4 import Conv4


def test_fine_tuning_fits_the_support_set_and_leaves_the_learner_alone():
    torch.manual_seed(0)
    learner = ProtoNet(Conv4(3, hidden=8)).eval()
    before = {k: v.clone() for k, v in learner.state_dict().items()}
    sx = torch.rand(10, 3, 16, 16)
    sy = torch.arange(5).repeat(2)
    ft = SupportFineTuning(learner, steps=30, lr=1e-3)
    plain = learner.adapt(sx, sy, 5).predict(sx).loss(sy)
    tuned = ft.adapt(sx, sy, 5).predict(sx).loss(sy)
    assert tuned < plain  # the copy fits its own support set better
    assert all(torch.equal(v, learner.state_dict()[k]) for k, v in before.items())
    again = ft.adapt(sx, sy, 5).predict(sx).logits
    assert torch.equal(again, ft.adapt(sx, sy, 5).predict(sx).logits)  # seeded views: deterministic
    with pytest.raises(ValueError, match="steps >= 1"):
        SupportFineTuning(learner, steps=0)
