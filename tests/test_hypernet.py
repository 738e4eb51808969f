"""Hypernetwork learner (Ha 2017; Zhmoginov 2022): set-invariant weight generation, export, training."""

import pytest
import torch

from fastadapt.learners.hypernet import HyperNet
from fastadapt.learners.protonet import class_means
from fastadapt.nn.conv4 import Conv4
from fastadapt.tasks.task import TaskBatch


def model(rank=0):
    torch.manual_seed(0)
    return HyperNet(Conv4(1, 16), dim=16, set_hidden=32, rank=rank)


def episode(n=4, k=2, q=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.rand(n * k, 1, 28, 28, generator=g),
        torch.arange(n).repeat_interleave(k),
        torch.rand(n * q, 1, 28, 28, generator=g),
    )


def perturb(m):
    """Non-zero generator outputs (they are zero-initialised)."""
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m


@pytest.mark.parametrize("rank", [0, 3])
def test_generated_classifier_equals_exported_module(rank):
    m = perturb(model(rank)).eval()
    sx, sy, qx = episode()
    with torch.no_grad():
        pred = m.adapt(sx, sy)
        exported = pred.export()
        torch.testing.assert_close(exported(qx), pred.predict(qx).logits)
    assert isinstance(exported, torch.nn.Sequential) and not any(p.requires_grad for p in exported.parameters())
    assert exported[-1].out_features == 4
    # the export is a copy: changing the learner afterwards does not change it
    before = exported(qx)
    with torch.no_grad():
        m.encoder.encoder[0][0].weight.add_(1.0)
    torch.testing.assert_close(exported(qx), before)


def test_generation_is_invariant_to_support_order():
    m = perturb(model(rank=2)).eval()
    sx, sy, qx = episode()
    perm = torch.randperm(len(sy))
    with torch.no_grad():
        a = m.adapt(sx, sy).predict(qx).logits
        b = m.adapt(sx[perm], sy[perm]).predict(qx).logits
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_starts_as_a_prototype_classifier():
    m = model().eval()
    sx, sy, qx = episode()
    with torch.no_grad():
        w = m.adapt(sx, sy).weights
        protos = class_means(m.embed(sx), sy, 4)
        torch.testing.assert_close(w.weight, 2 * protos)
        torch.testing.assert_close(w.bias, -(protos**2).sum(-1))
        z = m.embed(qx)
        sq = torch.cdist(z, protos) ** 2
        logits = m.adapt(sx, sy).predict(qx).logits
    torch.testing.assert_close(logits, (z**2).sum(-1, keepdim=True) - sq, atol=1e-4, rtol=1e-4)


def test_batched_path_matches_adapt():
    m = perturb(model(rank=2)).eval()
    eps = [episode(seed=s) for s in (1, 2)]
    batch = TaskBatch(
        torch.stack([e[0] for e in eps]),
        torch.stack([e[1] for e in eps]),
        torch.stack([e[2] for e in eps]),
        torch.zeros(2, 12, dtype=torch.long),
        ways=4,
    )
    with torch.no_grad():
        batched = m.predict_batch(batch).logits
        for i, (sx, sy, qx) in enumerate(eps):
            torch.testing.assert_close(m.adapt(sx, sy).predict(qx).logits, batched[i], atol=1e-4, rtol=1e-4)


def test_clear_errors():
    with pytest.raises(ValueError, match="rank"):
        HyperNet(rank=-1)
    m = HyperNet(Conv4(1, 16), dim=64)
    sx, sy, _ = episode()
    with pytest.raises(ValueError, match="dim"):
        m.adapt(sx, sy)


@pytest.mark.slow
def test_short_training_beats_chance_and_its_initialisation(data_root):
    from fastadapt.presets import DEFAULTS
    from fastadapt.tasks import build_sampler
    from fastadapt.train.evaluate import evaluate

    torch.manual_seed(0)
    cfg = dict(DEFAULTS, data_root=str(data_root))
    m = HyperNet(Conv4(1, 32), dim=32, set_hidden=64)
    test = build_sampler(cfg, "test", 5, 1, 5, seed=1)
    before = evaluate(m, test, 100)["accuracy"]
    train = build_sampler(cfg, "train", 5, 1, 5, seed=0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for step in range(120):
        loss, _ = m.meta_loss(train.batch(step, 2))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = evaluate(m, test, 100)["accuracy"]
    assert after > 0.6 and after > before + 0.05, (before, after)
