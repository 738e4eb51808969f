"""Optimizee families: quadratics (Andrychowicz 2016) and classifiers on Omniglot-derived problems."""

import os
from pathlib import Path

import pytest
import torch

from fastadapt.optim.problems import ClassifierFamily, QuadraticFamily, build_family


def test_quadratic_closed_form_and_determinism():
    fam = QuadraticFamily("train", seed=3)
    p = fam.problem(5)
    theta = p.init_params()["theta"].requires_grad_()
    loss = p.loss({"theta": theta}, 0)
    r = p.W @ theta - p.y
    assert loss.item() == pytest.approx(float(r.detach() @ r.detach()), rel=1e-6)
    (g,) = torch.autograd.grad(loss, theta)
    torch.testing.assert_close(g, 2 * p.W.T @ r.detach())
    assert torch.equal(fam.problem(5).W, p.W) and not torch.equal(fam.problem(6).W, p.W)
    assert not torch.equal(QuadraticFamily("test", seed=3).problem(5).W, p.W)  # held-out problems differ
    with pytest.raises(ValueError, match="part"):
        QuadraticFamily("dev")


def fake_images(classes=15, per=20, size=12):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (classes * per, 1, size, size), generator=g, dtype=torch.uint8)
    return x, torch.arange(classes).repeat_interleave(per)


@pytest.mark.parametrize("model", ["mlp", "conv"])
def test_classifier_problems(model):
    x, y = fake_images()
    fam = ClassifierFamily("fake", "train", 0, x, y, model, ways=10, batch_size=16)
    p = fam.problem(0)
    assert p.x.shape == (200, 1, 12, 12) and sorted(set(p.y.tolist())) == list(range(10))
    assert 0.0 <= p.x.min() and p.x.max() <= 1.0
    params = p.init_params()
    loss = p.loss(params, 3)
    assert loss.ndim == 0 and 1.0 < loss.item() < 4.0  # about log(10) at initialization
    assert torch.equal(p.batch_index(3), p.batch_index(3)) and not torch.equal(p.batch_index(3), p.batch_index(4))
    assert torch.equal(fam.problem(0).params0[next(iter(params))], params[next(iter(params))])


def test_classifier_errors():
    x, y = fake_images(classes=5)
    with pytest.raises(ValueError, match="fewer than ways"):
        ClassifierFamily("fake", "train", 0, x, y, "mlp", ways=10)
    with pytest.raises(ValueError, match="optimizee model"):
        ClassifierFamily("fake", "train", 0, *fake_images(), "resnet")
    with pytest.raises(ValueError, match="Unknown optimizee family"):
        build_family({}, "rosenbrock", "train")


def _have_omniglot():
    root = Path(os.environ.get("FASTADAPT_DATA", Path.home() / ".cache" / "fastadapt")) / "omniglot"
    return (root / "images_background.zip").exists()


@pytest.mark.skipif(not _have_omniglot(), reason="Omniglot archives not available")
def test_omniglot_families_use_disjoint_alphabets():
    cfg = {"image_size": 28, "data_root": ""}
    tr, te = build_family(cfg, "mlp-omniglot", "train"), build_family(cfg, "conv-omniglot", "test")
    assert tr.problem(0).x.shape == (200, 1, 28, 28)
    assert tr.problem(0).params0["w1"].shape == (20, 784) and "c1" in te.problem(0).params0
    train_imgs = {bytes(t.numpy()) for t in tr.x[::20]}
    assert not train_imgs & {bytes(t.numpy()) for t in te.x[::20]}  # no character in both parts
