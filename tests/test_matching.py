"""Matching Networks (Vinyals 2016): cosine attention, full context embeddings, shapes and gradients."""

import pytest
import torch

from fastadapt.learners.matching import FullContextEmbedding, MatchingNet, attention_class_logits
from fastadapt.nn.conv4 import Conv4
from fastadapt.nn.episodic import embed
from fastadapt.tasks import EpisodeSampler


def small(fce: bool = False) -> MatchingNet:
    torch.manual_seed(0)
    return MatchingNet(Conv4(hidden=8), features=8, fce=fce, fce_steps=3)


def synthetic_batch(b=2, ways=3, shots=2, queries=2):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(60, 1, 28, 28, generator=g)
    return EpisodeSampler(x, torch.arange(10).repeat_interleave(6), ways, shots, queries, seed=0).batch(0, b)


@pytest.mark.parametrize("fce", [False, True])
def test_attention_sums_to_one_and_gives_the_class_distribution(fce):
    m = small(fce).eval()
    sx, sy, qx = torch.rand(6, 1, 28, 28), torch.tensor([0, 1, 2, 0, 1, 2]), torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        pred = m.adapt(sx, sy)
        att = pred.attention(qx)
        probs = pred.predict(qx).probs
    assert att.shape == (4, 6) and bool((att >= 0).all())
    assert torch.allclose(att.sum(-1), torch.ones(4), atol=1e-6)
    # P(y | x, S) = sum_i a(x, x_i) onehot(y_i)
    assert torch.allclose(probs, att @ torch.nn.functional.one_hot(sy, 3).float(), atol=1e-5)


def test_attention_is_scaled_cosine_without_fce():
    m = small().eval()
    zq, zs = torch.randn(3, 8), torch.randn(5, 8)
    cos = torch.nn.functional.cosine_similarity(zq[:, None], zs[None], dim=-1)
    assert torch.allclose(m.attention_logits(zq, zs), 10.0 * cos, atol=1e-5)


def test_class_without_support_gets_zero_probability_and_finite_gradients():
    att = torch.randn(2, 4, requires_grad=True)
    logits = attention_class_logits(att, torch.tensor([0, 0, 2, 2]), 3)
    probs = logits.softmax(-1)
    assert torch.allclose(probs[:, 1], torch.zeros(2)) and torch.allclose(probs.sum(-1), torch.ones(2))
    logits.log_softmax(-1)[:, 0].sum().backward()
    assert torch.isfinite(att.grad).all()


def test_full_context_embedding_depends_on_the_whole_support_set():
    torch.manual_seed(0)
    fce = FullContextEmbedding(4, steps=2)
    zs = torch.randn(5, 4)
    changed = zs.clone()
    changed[4] += 1.0
    g, g2 = fce.support(zs), fce.support(changed)
    assert g.shape == (5, 4) and not torch.allclose(g[0], g2[0])  # context reaches example 0
    zq = torch.randn(3, 4)
    assert fce.queries(zq, g).shape == (3, 4)
    assert not torch.allclose(fce.queries(zq, g), fce.queries(zq, g2))
    with pytest.raises(ValueError, match="fce_steps"):
        FullContextEmbedding(4, steps=0)


@pytest.mark.parametrize("fce", [False, True])
def test_batched_path_matches_adapt_and_gradients_reach_every_parameter(fce):
    m = small(fce)
    batch = synthetic_batch()
    m.eval()
    with torch.no_grad():
        fast = m.predict_batch(batch).logits
        slow = torch.stack([m.adapt(t.support_x, t.support_y, t.ways).predict(t.query_x).logits for t in batch])
    assert fast.shape == (2, 6, 3) and torch.allclose(fast, slow, atol=1e-4)
    m.train()
    loss, metrics = m.meta_loss(batch)
    loss.backward()
    assert metrics["loss"] > 0 and 0 <= metrics["acc"] <= 1
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_mirror_image_test_features_and_transductive_batchnorm_are_offered():
    """An encoder learner like ProtoNet: with ``tta_flip`` the test features are the mean of an image's and its
    mirror image's (training unchanged), and ``eval_bn="transductive"`` normalizes each task by its own examples."""
    m = small().eval()
    b = synthetic_batch()
    with torch.no_grad():
        plain = m.predict_batch(b).logits
        z = (
            (m.embed(b.support_x) + m.embed(b.support_x.flip(-1))) / 2,
            (m.embed(b.query_x) + m.embed(b.query_x.flip(-1))) / 2,
        )
        m.configure_encoder(tta_flip=True)
        flipped = m.predict_batch(b).logits
        expected = m.adapt_features(z[0], b.support_y, b.ways).predict_features(z[1]).logits
    assert torch.allclose(flipped, expected, atol=1e-5) and not torch.allclose(flipped, plain, atol=1e-3)
    m.train()
    assert torch.equal(m.embed(b.query_x), embed(m.encoder, b.query_x))  # no mirror images in training
    m.eval().configure_encoder(tta_flip=False)
    m.set_eval_bn("transductive")
    with torch.no_grad():
        trans = m.predict_batch(b).logits
    assert trans.shape == plain.shape and not torch.allclose(trans, plain, atol=1e-3)


def test_bad_scale():
    with pytest.raises(ValueError, match="scale"):
        MatchingNet(Conv4(hidden=8), features=8, scale=0.0)


@pytest.mark.slow
def test_short_omniglot_training_beats_85_percent(data_root):
    from metric_training import short_training

    assert short_training("matching", data_root) > 0.85
