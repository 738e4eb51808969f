"""Latent Neural Process (learners/np.py)."""

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from fastadapt.learners.np import NeuralProcess, gaussian_kl
from fastadapt.tasks import TaskBatch
from fastadapt.tasks.gp import GPTasks


def test_gaussian_kl_closed_form_nonnegative_and_zero_at_equality():
    torch.manual_seed(0)
    mq, mp = torch.randn(100, 8), torch.randn(100, 8)
    sq, sp = torch.rand(100, 8) + 0.1, torch.rand(100, 8) + 0.1
    kl = gaussian_kl(mq, sq, mp, sp)
    assert torch.allclose(kl, kl_divergence(Normal(mq, sq), Normal(mp, sp)).sum(-1), atol=1e-5)
    assert (kl >= 0).all()
    assert torch.allclose(gaussian_kl(mq, sq, mq, sq), torch.zeros(100), atol=1e-6)


def test_elbo_kl_term_nonnegative_and_zero_when_posterior_equals_prior():
    torch.manual_seed(0)
    model = NeuralProcess(hidden=32, latent=16)
    b = GPTasks(context=10, targets=10, seed=0).batch(0, 4)
    _, kl, _ = model.elbo_terms(b)
    assert (kl >= 0).all() and (kl > 1e-6).any()
    # Targets that repeat the context: q(z | C u T) aggregates the same mean as q(z | C), so KL = 0.
    same = TaskBatch(b.support_x, b.support_y, b.support_x.clone(), b.support_y.clone(), None)
    _, kl0, _ = model.elbo_terms(same)
    assert torch.allclose(kl0, torch.zeros(4), atol=1e-5)


def test_function_samples_are_coherent_and_prediction_is_their_mixture():
    torch.manual_seed(0)
    model = NeuralProcess(hidden=32, latent=16).eval()
    b = GPTasks(context=5, targets=30, seed=1).batch(0, 1)[0]
    pr = model.adapt(b.support_x, b.support_y)
    g = torch.Generator().manual_seed(0)
    f = pr.sample_functions(b.query_x, 6, generator=g)
    assert f.shape == (6, 30, 1)
    assert f.std(0).mean() > 1e-4  # different latent draws -> different functions
    g = torch.Generator().manual_seed(0)
    mean, std = pr.decode_samples(b.query_x, 6, generator=g)
    assert torch.allclose(mean, f)
    pred = pr.predict(b.query_x, samples=200)
    assert (pred.var > 0).all() and pred.mean.shape == (30, 1)
    ll = pr.log_likelihood(b.query_x, b.query_y, samples=16)
    assert ll.shape == () and torch.isfinite(ll)


@pytest.mark.parametrize("attention", [False, True])
def test_order_invariance_and_errors(attention):
    torch.manual_seed(0)
    model = NeuralProcess(hidden=32, latent=16, attention=attention)
    b = GPTasks(context=12, targets=5, seed=3).batch(0, 1)[0]
    perm = torch.randperm(12)
    a1, a2 = model.adapt(b.support_x, b.support_y), model.adapt(b.support_x[perm], b.support_y[perm])
    assert torch.allclose(a1.z_mean, a2.z_mean, atol=1e-6)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.allclose(a1.sample_functions(b.query_x, 3, g1), a2.sample_functions(b.query_x, 3, g2), atol=1e-5)
    with pytest.raises(ValueError, match="samples"):
        NeuralProcess(samples=0)
    with pytest.raises(ValueError, match="divisible"):
        NeuralProcess(hidden=30, attention=True)


def test_attentive_path_gives_each_target_its_own_representation():
    torch.manual_seed(0)
    model = NeuralProcess(hidden=32, latent=16, attention=True)
    with torch.no_grad():  # sharpen the (near-uniform at init) attention weights
        model.key_mlp[-1].weight.mul_(30)
    b = GPTasks(context=12, targets=5, seed=3).batch(0, 2)
    ctx = model.encode_context(b.support_x, b.support_y)
    r = model.read_out(ctx, b.query_x)
    assert r.shape == (2, 5, 32) and (r[:, 0] - r[:, 1]).abs().max() > 1e-3
    plain = NeuralProcess(hidden=32, latent=16)
    r0 = plain.read_out(plain.encode_context(b.support_x, b.support_y), b.query_x)
    assert torch.allclose(r0[:, 0], r0[:, 1])


@pytest.mark.slow
def test_short_training_improves_target_log_likelihood():
    torch.manual_seed(0)
    model = NeuralProcess(hidden=64, latent=32, samples=16)
    train, test = (
        GPTasks(context="3-50", targets="1-50", seed=0),
        GPTasks(context="3-50", targets=50, seed=0, part="test"),
    )

    def score():
        torch.manual_seed(1)
        return torch.cat([model.log_likelihood(test.batch(i, 20)) for i in range(5)]).mean()

    before = score()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for step in range(400):
        loss, metrics = model.meta_loss(train.batch(step, 16))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = score()
    assert after > before + 0.3, (before, after)


def test_evaluation_elbo_is_query_likelihood_minus_kl_per_point():
    """With a decoder blind to z the expectation is exact: ELBO = (log p(y_T | C) - KL) / T on the queries."""
    torch.manual_seed(0)
    model = NeuralProcess(hidden=32, latent=16).eval()
    with torch.no_grad():
        model.decoder[0].weight[:, 32:48] = 0  # decoder input is [r (32), z (16), x]
    b = GPTasks(context=6, targets=9, seed=2).batch(0, 3)
    pr = model.adapt(b.support_x, b.support_y)
    mean, std = pr.decode_samples(b.query_x, 1)
    exact = Normal(mean[0], std[0]).log_prob(b.query_y).flatten(1).sum(-1)
    mu_q, std_q = model.latent_dist(torch.cat([b.support_x, b.query_x], 1), torch.cat([b.support_y, b.query_y], 1))
    kl = gaussian_kl(mu_q, std_q, pr.z_mean, pr.z_std)
    assert (kl > 1e-4).all()
    assert torch.allclose(model.elbo(b, samples=3), (exact - kl) / 9, atol=1e-5)
    assert torch.allclose(model.log_likelihood(b, samples=3), exact / 9, atol=1e-5)


def test_importance_weighted_likelihood_is_exact_when_q_is_the_true_posterior():
    """A linear-Gaussian NP in closed form: z ~ N(0, 1) a shared offset, y = z + N(0, s^2) noise, and q(z | set)
    the exact posterior given the set. Then p(y_T | C) = N(y_T; m_C 1, s^2 I + v_C 1 1^T), every importance weight
    equals it (exact with any number of draws), and the ELBO is tight; drawing z from q(z | C) is not exact."""
    s = 0.5
    model = NeuralProcess(hidden=8, latent=1).double().eval()

    def posterior(x, y):
        precision = 1 + y.shape[-2] / s**2
        return y.sum(-2) / s**2 / precision, precision**-0.5 * torch.ones_like(y[..., 0, :])

    model.latent_dist = posterior
    model.decode = lambda r, z, x: (
        z.unsqueeze(-2).expand(*x.shape[:-1], 1),
        torch.full((*x.shape[:-1], 1), s, dtype=torch.float64),
    )
    b = GPTasks(context=5, targets=7, seed=3).batch(0, 4)
    b = TaskBatch(b.support_x.double(), b.support_y.double(), b.query_x.double(), b.query_y.double())
    m, sd = posterior(b.support_x, b.support_y)
    cov = s**2 * torch.eye(7, dtype=torch.float64) + sd.view(-1, 1, 1) ** 2
    exact = MultivariateNormal(m.expand(-1, 7), cov).log_prob(b.query_y.squeeze(-1)) / 7
    g = torch.Generator().manual_seed(0)
    assert torch.allclose(model.importance_weighted_log_likelihood(b, samples=3, generator=g), exact, atol=1e-10)
    assert torch.allclose(model.elbo(b, samples=200_000), exact, atol=5e-3)
    torch.manual_seed(0)
    assert (model.log_likelihood(b, samples=3) - exact).abs().max() > 1e-3
    assert torch.allclose(model.log_likelihood(b, samples=200_000), exact, atol=5e-3)  # slowly, from below


def test_training_elbo_draws_average_the_likelihood_term():
    """``train_samples`` draws average the ELBO's likelihood term: the loss's spread over seeds shrinks about as
    1 / draws, and its mean (the expected negative ELBO) stays where it was."""
    torch.manual_seed(0)
    model = NeuralProcess(hidden=32, latent=16)
    b = GPTasks(context=6, targets=9, seed=2).batch(0, 4)

    def losses(draws: int) -> torch.Tensor:
        model.train_samples = draws
        out = []
        for seed in range(200):
            torch.manual_seed(seed)
            out.append(model.meta_loss(b)[0].detach())
        return torch.stack(out)

    one, sixteen = losses(1), losses(16)
    assert sixteen.var() < one.var() / 5, (one.var(), sixteen.var())
    assert abs(one.mean() - sixteen.mean()) < 4 * (one.var() / 200).sqrt()
    with pytest.raises(ValueError, match="train_samples"):
        NeuralProcess(train_samples=0)
