"""Relation Networks (Sung 2018): embedding and relation modules, summed class features, MSE objective."""

import pytest
import torch
import torch.nn.functional as F

from fastadapt.learners.relation import RelationEmbedding, RelationModule, RelationNet
from fastadapt.tasks import EpisodeSampler


def small(probs="odds") -> RelationNet:
    torch.manual_seed(0)
    return RelationNet(hidden=8, probs=probs)


def synthetic_batch(b=2, ways=3, shots=2, queries=2):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(60, 1, 28, 28, generator=g)
    return EpisodeSampler(x, torch.arange(10).repeat_interleave(6), ways, shots, queries, seed=0).batch(0, b)


def test_embedding_shape():
    assert RelationEmbedding(1, 8)(torch.rand(3, 1, 28, 28)).shape == (3, 8, 5, 5)
    assert RelationEmbedding.out_size(28) == 5


def test_split_first_convolution_equals_concatenation():
    torch.manual_seed(0)
    rel = RelationModule(channels=4, map_size=5).eval()
    classes, queries = torch.randn(3, 4, 5, 5), torch.randn(2, 4, 5, 5)
    out = rel(classes, queries)
    assert out.shape == (2, 3)
    for q in range(2):
        for c in range(3):
            pair = torch.cat([classes[c], queries[q]])[None]  # depth concatenation
            h = rel.block2(rel.post1(rel.conv1(pair)))
            assert torch.allclose(out[q, c], rel.fc(h.flatten(1))[0, 0], atol=1e-5)


def test_class_features_are_summed_over_shots():
    maps = torch.randn(4, 2, 3, 3)
    y = torch.tensor([1, 0, 1, 0])
    summed = RelationNet.class_maps(maps, y, 2)
    assert torch.allclose(summed[0], maps[1] + maps[3]) and torch.allclose(summed[1], maps[0] + maps[2])


def test_relation_module_gets_gradient_from_mse():
    m = small().train()
    batch = synthetic_batch()
    loss, metrics = m.meta_loss(batch)
    logits = m.batch_logits(batch)
    target = F.one_hot(batch.query_y, 3).float()
    assert loss.item() == pytest.approx(F.mse_loss(torch.sigmoid(logits), target).item(), rel=0.05)
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert m.relation.fc[-1].weight.grad.abs().sum() > 0 and m.relation.conv1.weight.grad.abs().sum() > 0
    assert m.encoder.net[0][0].weight.grad.abs().sum() > 0


def test_batched_path_matches_adapt():
    m = small().eval()
    batch = synthetic_batch()
    with torch.no_grad():
        fast = m.predict_batch(batch).logits
        slow = torch.stack([m.adapt(t.support_x, t.support_y, t.ways).predict(t.query_x).logits for t in batch])
    assert fast.shape == (2, 6, 3) and torch.allclose(fast, slow, atol=1e-4)


@pytest.mark.parametrize("probs", ["odds", "normalize"])
def test_scores_become_probabilities_as_documented(probs):
    m = small(probs).eval()
    t = synthetic_batch(b=1)[0]
    with torch.no_grad():
        pred = m.adapt(t.support_x, t.support_y, 3)
        r, p = pred.scores(t.query_x), pred.predict(t.query_x).probs
    assert bool(((r > 0) & (r < 1)).all())
    w = r / (1 - r) if probs == "odds" else r
    assert torch.allclose(p, w / w.sum(-1, keepdim=True), atol=1e-5)
    assert torch.equal(p.argmax(-1), r.argmax(-1))


def test_transductive_bn_uses_each_tasks_own_statistics():
    m = small()
    m.train()
    m.meta_loss(synthetic_batch())[0].backward()  # running averages move away from their start
    m.set_eval_bn("transductive")
    m.eval()
    batch = synthetic_batch()
    state = {k: v.clone() for k, v in m.state_dict().items()}
    with torch.no_grad():
        fast = m.predict_batch(batch).logits
        t = batch[1]
        alone = m.adapt(t.support_x, t.support_y, 3).logits(t.query_x)
        fewer = m.adapt(t.support_x, t.support_y, 3).logits(t.query_x[:3])
        m.set_eval_bn("running")
        running = m.predict_batch(batch).logits
    assert torch.allclose(fast[1], alone, atol=1e-4)  # per task, not over the batch
    assert not torch.allclose(fast, running, atol=1e-3)
    assert not torch.allclose(fewer, alone[:3], atol=1e-4)  # queries depend on each other
    assert all(torch.equal(v, state[k]) for k, v in m.state_dict().items())  # nothing learned at test


def test_bad_options():
    with pytest.raises(ValueError, match="probs"):
        RelationNet(probs="softmax")
    with pytest.raises(ValueError, match="eval_bn"):
        RelationNet().set_eval_bn("batch")
    with pytest.raises(ValueError, match="too small"):
        RelationModule(8, map_size=1)


@pytest.mark.slow
def test_short_omniglot_training_beats_85_percent(data_root):
    from metric_training import short_training

    assert short_training("relation", data_root) > 0.85
