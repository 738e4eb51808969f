"""fastadapt.nn.reorder: pool-then-ReLU is the same function as ReLU-then-pool, gradients included."""

from __future__ import annotations

import torch
from torch import nn

from fastadapt.nn.conv4 import Conv4
from fastadapt.nn.reorder import pool_before_relu


def relu_pool_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Flatten(),
        nn.Linear(3 * 2 * 2, 2),
    ).double()


def test_swaps_every_relu_pool_pair_and_nothing_else():
    net = nn.Sequential(
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.LeakyReLU(),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.MaxPool2d(2, return_indices=True),
        nn.Sequential(nn.ReLU(), nn.MaxPool2d(2)),
    )
    assert pool_before_relu(net) == 2
    kinds = [type(m).__name__ for m in net]
    assert kinds[:6] == ["MaxPool2d", "ReLU", "LeakyReLU", "MaxPool2d", "ReLU", "MaxPool2d"]
    assert [type(m).__name__ for m in net[6]] == ["MaxPool2d", "ReLU"]


def test_same_values_and_gradients_to_second_order():
    ref = relu_pool_net()
    fast = relu_pool_net()
    assert pool_before_relu(fast) == 2
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    params = list(ref.parameters())
    outs = []
    for net in (ref, fast):
        ps = list(net.parameters())
        y = net(x)
        g = torch.autograd.grad(y.square().sum(), ps, create_graph=True)
        v = [torch.ones_like(p) for p in ps]
        hvp = torch.autograd.grad(sum((a * b).sum() for a, b in zip(g, v)), ps)
        outs.append((y.detach(), [t.detach() for t in g], hvp))
    (y0, g0, h0), (y1, g1, h1) = outs
    assert len(g0) == len(params)
    assert torch.equal(y0, y1)
    assert all(torch.allclose(a, b, rtol=1e-12, atol=1e-12) for a, b in zip(g0, g1))
    assert all(torch.allclose(a, b, rtol=1e-12, atol=1e-12) for a, b in zip(h0, h1))


def test_conv4_loads_weights_of_the_relu_then_pool_layout():
    torch.manual_seed(1)
    old = nn.Sequential(
        *(
            nn.Sequential(nn.Conv2d(c, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
            for c in (1, 4, 4, 4)
        )
    )
    with torch.no_grad():
        for m in old.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2)
                m.weight.normal_()  # negative scales too: pooling stays after BatchNorm
    net = Conv4(1, 4)
    net.encoder.load_state_dict(old.state_dict(), strict=True)
    x = torch.randn(3, 1, 28, 28)
    for mode in (True, False):
        old.train(mode)
        net.train(mode)
        assert torch.allclose(net(x), old(x).flatten(1), atol=1e-6)
