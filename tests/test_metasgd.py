"""Meta-SGD (Li 2017): learned per-parameter inner learning rates get exact gradients."""

from __future__ import annotations

import torch
from torch import nn

from fastadapt import MetaSGD
from fastadapt.tasks import TaskBatch


def test_learning_rates_receive_gradients_equal_to_finite_differences():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    learner = MetaSGD(net, inner_lr=0.1, inner_steps=1, task_type="regression")
    assert [lr.shape for lr in learner.lrs] == [p.shape for p in net.parameters()]
    x = torch.randn(3, 5, 2, dtype=torch.float64)
    tb = TaskBatch(x, x.sum(-1, keepdim=True).sin(), x + 0.1, (x + 0.1).sum(-1, keepdim=True).sin(), None)
    loss, _ = learner.meta_loss(tb)
    loss.backward()
    for lr in learner.lrs:
        assert lr.grad is not None and lr.grad.abs().sum() > 0
    lr = learner.lrs[0]
    eps = 1e-6
    with torch.no_grad():
        lr.view(-1)[3] += eps
        hi = learner.meta_loss(tb)[0].item()
        lr.view(-1)[3] -= 2 * eps
        lo = learner.meta_loss(tb)[0].item()
    assert abs(lr.grad.view(-1)[3].item() - (hi - lo) / (2 * eps)) < 1e-7


def test_lrs_are_trained_and_user_module_keeps_its_weights():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    before = [p.clone() for p in net.parameters()]
    learner = MetaSGD(net, inner_lr=0.1, task_type="regression")
    x = torch.randn(4, 5, 2)
    tb = TaskBatch(x, x[..., :1], x, x[..., :1], None)
    opt = torch.optim.Adam(learner.parameters(), 1e-2)
    loss, _ = learner.meta_loss(tb)
    loss.backward()
    opt.step()
    assert not torch.allclose(learner.lrs[0], torch.full_like(learner.lrs[0], 0.1))
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
