"""ANIL (Raghu 2020): only the head adapts in the inner loop; the body is still meta-trained."""

from __future__ import annotations

import torch
from torch import nn

from fastadapt import ANIL
from fastadapt.tasks import TaskBatch


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 25, 2)
    )


def test_inner_loop_adapts_the_head_only_and_body_gets_meta_gradients():
    learner = ANIL(net(), inner_lr=0.5, inner_steps=3)
    assert learner.adapt_names == ["4.weight", "4.bias"]
    x, y = torch.randn(4, 1, 5, 5), torch.tensor([0, 1, 0, 1])
    history = learner.inner_loop(learner._params(), x, y, 3)
    for n, p in learner.module.named_parameters():
        moved = [not torch.equal(h[n], p) for h in history[1:]]
        assert all(moved) if n.startswith("4.") else not any(moved), n
    tb = TaskBatch(
        x[None].repeat(2, 1, 1, 1, 1),
        y[None].repeat(2, 1),
        x[None].repeat(2, 1, 1, 1, 1) + 0.1,
        y[None].repeat(2, 1),
        2,
    )
    loss, _ = learner.meta_loss(tb)
    loss.backward()
    assert learner.module[0].weight.grad.abs().sum() > 0


def test_custom_head_filter():
    learner = ANIL(net(), adapt=lambda n: n.startswith("1."))
    assert learner.adapt_names == ["1.weight", "1.bias"]


def test_adapt_without_autograd_keeps_no_second_order_graph():
    """Under torch.no_grad (evaluation, `fastadapt adapt`) the inner loop takes first-order steps: the same fast
    weights and predictions as with autograd on, but the adapted head no longer leads back through the body's
    support-set forward (which held every inner step's activations: 4.2 GB on a mini-ImageNet 5w5s episode)."""
    learner = ANIL(net(), inner_lr=0.5, inner_steps=3).eval()
    x, y, q = torch.randn(4, 1, 5, 5), torch.tensor([0, 1, 0, 1]), torch.randn(6, 1, 5, 5)
    with_graph = learner.adapt(x, y, 2)
    with torch.no_grad():
        without = learner.adapt(x, y, 2)
        assert torch.allclose(with_graph.predict(q).logits, without.predict(q).logits, atol=1e-6)
    body = learner.module[0].weight
    g = torch.autograd.grad(with_graph.params["4.weight"].sum(), body, allow_unused=True)[0]
    assert g is not None and g.abs().sum() > 0  # second order: through the body
    g = torch.autograd.grad(without.params["4.weight"].sum(), body, allow_unused=True)[0]
    assert g is None  # first order: no path back to the body
