"""VERSA / ML-PIP amortized classifier (learners/versa.py)."""

import math

import pytest
import torch

from fastadapt.learners.versa import Versa, mc_logits, mc_predictive
from fastadapt.tasks.task import TaskBatch


def _episode(ways=4, shots=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(ways * shots, 1, 28, 28, generator=g)
    y = torch.arange(ways).repeat_interleave(shots)
    return x, y


@pytest.mark.parametrize("prototype_init", [True, False])
def test_class_weight_distribution_depends_only_on_its_support(prototype_init):
    torch.manual_seed(0)
    model = Versa(prototype_init=prototype_init).eval()  # eval: BatchNorm running statistics
    x, y = _episode()
    m1, v1 = model.adapt(x, y, 4).w_mean, model.adapt(x, y, 4).w_logvar
    x2 = x.clone()
    x2[y == 2] = torch.rand_like(x2[y == 2])  # new images for class 2 only
    p2 = model.adapt(x2, y, 4)
    others = torch.tensor([0, 1, 3])
    assert torch.allclose(p2.w_mean[others], m1[others], atol=1e-6)
    assert torch.allclose(p2.w_logvar[others], v1[others], atol=1e-6)
    assert not torch.allclose(p2.w_mean[2], m1[2], atol=1e-4)
    # Relabelling the classes permutes the distributions and nothing else.
    perm = torch.tensor([2, 0, 3, 1])
    p3 = model.adapt(x, perm[y], 4)
    assert torch.allclose(p3.w_mean[perm], m1, atol=1e-6)


def test_mc_predictive_matches_explicit_weight_sampling():
    """Local reparameterization gives the same predictive as sampling whole weight vectors."""
    torch.manual_seed(0)
    q, n, d = 5, 3, 4
    feats = torch.randn(q, d)
    w_mean, w_logvar = torch.randn(n, d + 1), torch.randn(n, d + 1) - 1.0
    probs = mc_logits(feats, w_mean, w_logvar, 200_000).softmax(-1)
    w = w_mean + (0.5 * w_logvar).exp() * torch.randn(200_000, n, d + 1)
    h = torch.cat([feats, torch.ones(q, 1)], -1)
    ref = torch.softmax(torch.einsum("qd,lnd->lqn", h, w), -1).mean(0)
    assert torch.allclose(probs, ref, atol=5e-3)
    assert torch.allclose(probs.sum(-1), torch.ones(q), atol=1e-5)


def test_zero_variance_reduces_to_deterministic_linear_classifier():
    feats, w = torch.randn(6, 4), torch.randn(3, 5)
    out, spread = mc_predictive(feats, w, torch.full((3, 5), -80.0), samples=7)
    ref = torch.log_softmax(torch.cat([feats, torch.ones(6, 1)], -1) @ w.T, -1)
    assert torch.allclose(out, ref, atol=1e-5)
    assert spread.abs().max() < 1e-10  # no weight uncertainty, no spread
    _, spread = mc_predictive(feats, w, torch.zeros(3, 5), samples=50)
    assert spread.min() >= 0 and spread.max() > 1e-3


def test_batched_path_and_sample_counts():
    torch.manual_seed(0)
    model = Versa(samples=3, eval_samples=50)
    assert model.num_samples() == 3 and model.eval().num_samples() == 50
    x, y = _episode(ways=5, shots=1)
    b = TaskBatch.stack([__import__("fastadapt.tasks", fromlist=["Task"]).Task(x, y, x, y, 5)] * 2)
    pred = model.predict_batch(b)
    assert pred.logits.shape == (2, 5, 5)
    assert torch.allclose(pred.probs.sum(-1), torch.ones(2, 5), atol=1e-5)
    assert pred.var.shape == pred.logits.shape and (pred.var >= 0).all()
    with pytest.raises(ValueError, match="samples"):
        Versa(samples=0)


@pytest.mark.slow
def test_short_omniglot_training_improves_query_log_likelihood(data_root):
    from fastadapt.tasks import build_sampler
    from fastadapt.train.evaluate import evaluate

    cfg = {"dataset": "omniglot", "split": "vinyals", "image_size": 28, "data_root": str(data_root)}
    torch.manual_seed(0)
    model = Versa(samples=5, eval_samples=20)
    train = build_sampler(cfg, "train", 20, 1, 5, 0)
    test = build_sampler(cfg, "val", 5, 1, 5, 1)
    before = evaluate(model, test, 60, batch_size=20)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for step in range(40):
        loss, _ = model.meta_loss(train.batch(step, 1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = evaluate(model, test, 60, batch_size=20)
    assert after["nll"] < before["nll"] - 0.1 and after["accuracy"] > before["accuracy"]
    assert after["accuracy"] > 0.6 and before["nll"] <= math.log(5) + 1
