"""GP task family and its exact-posterior oracle (tasks/gp.py)."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal

from fastadapt.tasks import build_sampler
from fastadapt.tasks.gp import GPTasks, Kernel, gp_posterior, parse_count


def _cfg(**kw):
    return {"dataset": "gp", **kw}


def test_oracle_equals_direct_multivariate_normal():
    kernel, noise = Kernel("eq", 0.4, 1.0), 0.05
    tasks = GPTasks(kernel, noise, context=7, targets=5, seed=3)
    b = tasks.batch(0, 4)
    joint, marg = tasks.oracle(b)
    for i in range(4):
        x = torch.cat([b.support_x[i], b.query_x[i]]).double()
        y = torch.cat([b.support_y[i], b.query_y[i]]).double().squeeze(-1)
        k = kernel(x, x) + noise**2 * torch.eye(12, dtype=torch.float64)
        # log p(y_T | y_C) = log p(y_C, y_T) - log p(y_C)
        direct = (
            MultivariateNormal(torch.zeros(12, dtype=torch.float64), k).log_prob(y)
            - MultivariateNormal(torch.zeros(7, dtype=torch.float64), k[:7, :7]).log_prob(y[:7])
        ) / 5
        assert joint[i].item() == pytest.approx(direct.item(), abs=1e-8)
        # marginals: conditional mean and variance by the textbook formula
        kinv = torch.linalg.inv(k[:7, :7])
        m = k[7:, :7] @ kinv @ y[:7]
        v = torch.diagonal(k[7:, 7:] - k[7:, :7] @ kinv @ k[:7, 7:])
        assert marg[i].item() == pytest.approx(Normal(m, v.sqrt()).log_prob(y[7:]).mean().item(), abs=1e-8)


@pytest.mark.parametrize("name", ["eq", "matern52", "periodic"])
def test_kernels(name):
    k = Kernel(name, 0.5, 1.3, period=0.7)
    x = torch.linspace(-2, 2, 30, dtype=torch.float64).unsqueeze(-1)
    c = k(x, x)
    assert torch.allclose(torch.diagonal(c), torch.full((30,), 1.3**2, dtype=torch.float64))
    assert torch.linalg.eigvalsh(c + 1e-9 * torch.eye(30, dtype=torch.float64)).min() > -1e-8
    if name == "periodic":
        assert torch.allclose(k(x, x + 0.7), c, atol=1e-10)
    else:  # decays with distance
        assert c[0, 1] > c[0, 5] > c[0, 29]


def test_eq_closed_form():
    k = Kernel("eq", 0.4, 1.0)
    val = k(torch.tensor([[0.0]]), torch.tensor([[0.3]]))
    assert val.item() == pytest.approx(math.exp(-0.5 * (0.3 / 0.4) ** 2))


def test_samples_follow_the_prior():
    """Whitened by the true covariance, the sampled functions are standard normal: E[y^T K^-1 y] = n."""
    tasks = GPTasks(Kernel("matern52", 0.4, 1.0), 0.02, context=6, targets=4, seed=1)
    b = tasks.batch(0, 2000)
    x = torch.cat([b.support_x, b.query_x], 1).double()
    y = torch.cat([b.support_y, b.query_y], 1).double()
    k = tasks.kernel(x, x) + 0.02**2 * torch.eye(10, dtype=torch.float64)
    z = torch.linalg.solve_triangular(torch.linalg.cholesky(k), y, upper=False)
    assert (z**2).mean().item() == pytest.approx(1.0, abs=0.05)
    assert b.support_x.min() >= -2 and b.support_x.max() <= 2


def test_deterministic_counts_and_parts():
    cfg = _cfg(gp_kernel="eq")
    s = build_sampler(cfg, "train", None, "3-50", 50, seed=0)
    a, b = s.batch(5, 3), s.batch(5, 3)
    assert torch.equal(a.support_y, b.support_y) and torch.equal(a.query_x, b.query_x)
    assert a.ways is None and a.query_x.shape == (3, 50, 1)
    counts = {s.batch(i, 1).support_x.shape[1] for i in range(60)}
    assert min(counts) >= 3 and max(counts) <= 50 and len(counts) > 10
    val = build_sampler(cfg, "val", None, "3-50", 50, seed=0).batch(5, 3)
    test = build_sampler(cfg, "test", None, "3-50", 50, seed=0).batch(5, 3)
    assert not torch.equal(val.query_x, test.query_x)


def test_posterior_interpolates_noiseless_context():
    kernel = Kernel()
    xc = torch.tensor([[-1.0], [0.0], [1.0]])
    yc = torch.tensor([[0.5], [-0.2], [0.3]])
    mean, cov = gp_posterior(kernel, 1e-4, xc, yc, xc)
    assert torch.allclose(mean.float(), yc.squeeze(-1), atol=1e-3)
    assert torch.diagonal(cov).max() < 1e-6


def test_bad_input_errors():
    with pytest.raises(ValueError, match="ways must be None"):
        build_sampler(_cfg(), "train", 5, 10, 10, 0)
    with pytest.raises(ValueError, match="LO-HI"):
        parse_count("three", "context count")
    with pytest.raises(ValueError, match="1 <= LO <= HI"):
        parse_count("50-3", "context count")
    with pytest.raises(ValueError, match="Unknown GP kernel"):
        Kernel("rbf2")
    with pytest.raises(ValueError, match="noise must be positive"):
        GPTasks(noise=0.0)
