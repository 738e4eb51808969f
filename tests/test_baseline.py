"""The pre-training baseline (Chen 2019; Tian 2020): class-id batches, its supervised loss, and its test heads."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fastadapt.learners.baseline import PretrainedBaseline, fit_logistic
from fastadapt.tasks.sampler import EpisodeSampler
from fastadapt.tasks.task import TaskBatch


class Identity(torch.nn.Module):
    def forward(self, x):
        return x.flatten(1)


def test_class_id_batches_are_balanced_and_labelled_by_class():
    y = torch.arange(6).repeat_interleave(5)
    x = y.float().view(-1, 1, 1, 1).expand(-1, 1, 2, 2).clone()
    s = EpisodeSampler(x, y, ways=6, shots=1, queries=2, seed=3)
    s.use_class_ids()
    b = s.batch(0, 2)
    xs = torch.cat([b.support_x, b.query_x], 1)[..., 0, 0, 0]
    ys = torch.cat([b.support_y, b.query_y], 1)
    assert torch.equal(xs, ys.float())  # every image carries its own class id as label
    assert torch.bincount(ys.flatten()).tolist() == [6] * 6
    with pytest.raises(ValueError, match="train_ways=6"):
        EpisodeSampler(x, y, ways=5, shots=1, queries=2).use_class_ids()


def test_supervised_loss_is_cross_entropy_over_all_classes():
    torch.manual_seed(0)
    learner = PretrainedBaseline(Identity(), features=4, num_classes=3)
    sx, qx = torch.randn(1, 3, 1, 2, 2), torch.randn(1, 3, 1, 2, 2)
    b = TaskBatch(sx, torch.tensor([[0, 1, 2]]), qx, torch.tensor([[2, 1, 0]]), ways=3)
    loss, metrics = learner.meta_loss(b)
    z = torch.cat([sx, qx], 1).reshape(6, 4)
    want = F.cross_entropy(learner.classifier(z), torch.tensor([0, 1, 2, 2, 1, 0]))
    assert loss.item() == pytest.approx(want.item(), rel=1e-5) and 0 <= metrics["acc"] <= 1
    bad = TaskBatch(sx, torch.tensor([[0, 1, 5]]), qx, torch.tensor([[2, 1, 0]]), ways=6)
    with pytest.raises(ValueError, match="baseline_classes"):
        learner.meta_loss(bad)


def test_prototype_head_is_scaled_cosine_to_normalized_class_means():
    learner = PretrainedBaseline(Identity(), features=2, num_classes=2, scale=10.0).eval()
    sx = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]]).view(3, 1, 1, 2)
    pred = learner.adapt(sx, torch.tensor([0, 0, 1]), 2).predict(torch.tensor([[1.0, 1.0]]).view(1, 1, 1, 2))
    assert torch.allclose(pred.logits, torch.full((1, 2), 10 / math.sqrt(2)), atol=1e-5)


def test_logistic_head_separates_and_batches_like_single_tasks():
    torch.manual_seed(0)
    z = torch.randn(2, 10, 8)
    y = torch.arange(5).repeat(2).expand(2, 10)
    z = z + 3 * F.one_hot(y, 8).float()  # separable
    w, b = fit_logistic(F.normalize(z, dim=-1), y, 5)
    acc = ((F.normalize(z, dim=-1) @ w.transpose(-1, -2) + b.unsqueeze(-2)).argmax(-1) == y).float().mean()
    assert acc == 1.0
    w0, b0 = fit_logistic(F.normalize(z[0], dim=-1), y[0], 5)
    assert torch.allclose(w0, w[0], atol=1e-4) and torch.allclose(b0, b[0], atol=1e-4)
