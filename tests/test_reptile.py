"""Reptile (Nichol 2018): the outer update equals its closed form on a quadratic."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastadapt import Reptile
from fastadapt.tasks import TaskBatch


@pytest.mark.parametrize("batching", ["vmap", "loop"])
def test_reptile_update_matches_closed_form_on_a_quadratic(batching):
    """Linear regression, loss mean((Xw - y)^2): SGD gives w_k = w* + (I - lr A)^k (w0 - w*), A = 2 X^T X / S."""
    torch.manual_seed(0)
    d, s, b, k, lr, eps = 3, 8, 4, 5, 0.05, 0.5
    net = nn.Linear(d, 1, bias=False).double()
    learner = Reptile(net, inner_lr=lr, inner_steps=k, task_type="regression", batching=batching)
    x = torch.randn(b, s, d, dtype=torch.float64)
    y = torch.randn(b, s, 1, dtype=torch.float64)
    tb = TaskBatch(x, y, x, y, None)
    w0 = net.weight.detach().reshape(d, 1).clone()
    phis = []
    for xb, yb in zip(x, y):
        a = 2 * xb.T @ xb / s
        w_star = torch.linalg.solve(a, 2 * xb.T @ yb / s)
        phis.append(w_star + torch.linalg.matrix_power(torch.eye(d, dtype=torch.float64) - lr * a, k) @ (w0 - w_star))
    mean_phi = torch.stack(phis).mean(0)
    loss, _ = learner.meta_loss(tb)
    loss.backward()
    w = learner.module.weight
    torch.testing.assert_close(w.grad.reshape(d, 1), w0 - mean_phi, rtol=1e-10, atol=1e-12)
    torch.optim.SGD(learner.parameters(), lr=eps).step()
    torch.testing.assert_close(w.detach().reshape(d, 1), w0 + eps * (mean_phi - w0), rtol=1e-10, atol=1e-12)
    assert torch.equal(net.weight.detach().reshape(d, 1), w0)  # the user's module is untouched


def test_reptile_learns_sinusoids_a_little():
    from fastadapt.tasks.sinusoid import SinusoidTasks

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))
    learner = Reptile(net, inner_lr=0.02, inner_steps=5, task_type="regression")
    tasks = SinusoidTasks(10, 10, seed=0)
    opt = torch.optim.Adam(learner.parameters(), 1e-2)
    test = SinusoidTasks(10, 50, seed=1, part="test").batch(0, 100)
    learner.eval()
    with torch.no_grad():
        before = learner.batched(test)[0].mean().item()
    learner.train()
    for i in range(300):
        loss, _ = learner.meta_loss(tasks.batch(i, 10))
        opt.zero_grad()
        loss.backward()
        opt.step()
    learner.eval()
    with torch.no_grad():
        after = learner.batched(test)[0].mean().item()
    assert after < 0.6 * before, (before, after)


def test_reptile_default_inner_rate_is_one_value_for_the_constructor_and_a_config():
    """Reptile's own default step (0.1) also applies to a configuration that sets no inner_lr (it used to get
    MAML's 0.4 there)."""
    from fastadapt.configs import build_learner
    from fastadapt.presets import get_preset

    cfg = {k: v for k, v in get_preset("omniglot-reptile-5w1s").items() if k != "inner_lr"}
    assert build_learner(cfg).inner_lr == Reptile(torch.nn.Linear(2, 2)).inner_lr == 0.1
