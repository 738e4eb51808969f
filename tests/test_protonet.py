import copy

import pytest
import torch
from torch import nn

from fastadapt import ProtoNet, TaskBatch
from fastadapt.learners.protonet import class_means


class Identity(nn.Module):
    def forward(self, x):
        return x.flatten(1)


def test_prototypes_and_logits_closed_form():
    learner = ProtoNet(Identity())
    sx = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]]).view(3, 2, 1, 1)
    sy = torch.tensor([0, 0, 1])
    pred = learner.adapt(sx, sy)
    assert torch.allclose(pred.prototypes, torch.tensor([[1.0, 0.0], [0.0, 4.0]]))
    q = torch.tensor([[1.0, 1.0]]).view(1, 2, 1, 1)
    assert torch.allclose(pred.predict(q).logits, torch.tensor([[-1.0, -10.0]]))
    cos = ProtoNet(Identity(), distance="cosine", scale=2.0).adapt(sx, sy).predict(q).logits
    assert torch.allclose(cos, 2 * torch.tensor([[1 / 2**0.5, 1 / 2**0.5]]))


def test_learned_cosine_scale_is_a_parameter_with_the_closed_form_gradient():
    sx = torch.tensor([[1.0, 0.0], [0.0, 2.0]]).view(2, 2, 1, 1)
    q = torch.tensor([[1.0, 1.0], [3.0, -1.0]]).view(2, 2, 1, 1)
    learner = ProtoNet(Identity(), distance="cosine", scale=3.0, learn_scale=True)
    logits = learner.adapt(sx, torch.tensor([0, 1])).predict(q).logits
    cos = torch.tensor([[1.0, 1.0], [3.0, -1.0]]) / torch.tensor([[2**0.5], [10**0.5]])
    assert torch.allclose(logits, 3.0 * cos)
    logits.sum().backward()  # d(s * cos)/d(log s) = s * cos
    assert torch.allclose(learner.log_scale.grad, 3.0 * cos.sum())
    # a fixed scale stays out of the state dict, so checkpoints of earlier models load unchanged
    assert "log_scale" not in ProtoNet(Identity(), distance="cosine").state_dict()


def test_class_means_handles_uneven_shots():
    z = torch.tensor([[1.0], [3.0], [10.0]])
    assert torch.allclose(class_means(z, torch.tensor([0, 0, 1]), 2), torch.tensor([[2.0], [10.0]]))


def test_adapt_does_not_mutate_and_batched_equals_single():
    torch.manual_seed(0)
    learner = ProtoNet().eval()
    before = copy.deepcopy(learner.state_dict())
    b = TaskBatch(
        torch.rand(3, 10, 1, 28, 28),
        torch.arange(5).repeat(2).expand(3, 10),
        torch.rand(3, 15, 1, 28, 28),
        torch.arange(5).repeat(3).expand(3, 15),
        ways=5,
    )
    with torch.no_grad():
        batched = learner.predict_batch(b).logits
        single = torch.stack([learner.adapt(t.support_x, t.support_y, 5).predict(t.query_x).logits for t in b])
    assert torch.allclose(batched, single, atol=1e-4)
    for k, v in learner.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_meta_loss_gives_gradients_and_metrics():
    torch.manual_seed(0)
    learner = ProtoNet()
    b = TaskBatch(
        torch.rand(2, 5, 1, 28, 28),
        torch.arange(5).expand(2, 5),
        torch.rand(2, 10, 1, 28, 28),
        torch.arange(5).repeat(2).expand(2, 10),
        ways=5,
    )
    loss, m = learner.meta_loss(b)
    loss.backward()
    assert 0 <= m["acc"] <= 1 and m["loss"] > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in learner.parameters())


def test_bad_input_errors():
    with pytest.raises(ValueError, match="distance must be one of"):
        ProtoNet(distance="manhattan")
    with pytest.raises(ValueError, match="learn_scale needs distance='cosine'"):
        ProtoNet(learn_scale=True)
    with pytest.raises(ValueError, match="positive finite number"):
        ProtoNet(distance="cosine", scale=0.0)
    learner = ProtoNet(Identity())
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        learner.adapt(torch.zeros(2, 1, 1, 1), torch.tensor([0, 2]), ways=2)
    with pytest.raises(TypeError, match="integer class indices"):
        learner.adapt(torch.zeros(2, 1, 1, 1), torch.tensor([0.0, 1.0]))


def test_nan_support_refused():
    with pytest.raises(ValueError, match="support_x contains 1 NaN"):
        ProtoNet(Identity()).adapt(torch.tensor([[[[float("nan")]]], [[[1.0]]]]), torch.tensor([0, 1]))


class NormOnly(nn.Module):
    """A BatchNorm on the flattened input: prototypes are then closed-form functions of batch statistics."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(d, affine=False)

    def forward(self, x):
        return self.bn(x.flatten(1))


def test_transductive_eval_normalizes_support_and_queries_by_their_own_statistics():
    learner = ProtoNet(NormOnly(2)).eval()
    learner.set_eval_bn("transductive")
    sx = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [2.0, 4.0]]).view(4, 2, 1, 1)
    sy = torch.tensor([0, 0, 1, 1])
    qx = torch.tensor([[1.0, 0.0], [1.0, 8.0]]).view(2, 2, 1, 1)

    def by_hand(x):
        x = x.flatten(1)
        return (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5)

    protos = class_means(by_hand(sx), sy, 2)
    pred = learner.adapt(sx, sy, 2)
    assert torch.allclose(pred.prototypes, protos, atol=1e-4)
    expected = -(torch.cdist(by_hand(qx), protos) ** 2)
    assert torch.allclose(pred.predict(qx).logits, expected, atol=1e-4)
    b = TaskBatch(sx[None], sy[None], qx[None], torch.tensor([[0, 1]]), ways=2)
    assert torch.allclose(learner.predict_batch(b).logits[0], expected, atol=1e-4)
    learner.set_eval_bn("running")  # running averages (0 mean, unit variance here): raw inputs
    assert torch.allclose(learner.adapt(sx, sy, 2).prototypes, class_means(sx.flatten(1), sy, 2), atol=1e-4)


def test_eval_bn_is_refused_by_learners_without_it():
    from fastadapt.configs import build_learner
    from fastadapt.presets import get_preset

    cfg = dict(get_preset("omniglot-maml-5w1s"), eval_bn="transductive")
    with pytest.raises(ValueError, match="does not offer eval_bn.*protonet.*relation.*versa"):
        build_learner(cfg)
    with pytest.raises(ValueError, match="eval_bn must be one of"):
        build_learner(dict(get_preset("omniglot-protonet-5w1s"), eval_bn="batch"))


def test_transductive_soft_kmeans_closed_form():
    """One round of soft k-means (Ren 2018): each prototype becomes the mean of its support examples and its
    softly assigned queries (weights softmax(logits / temperature)), computed here by hand."""
    learner = ProtoNet(Identity(), transductive_steps=1, transductive_temperature=2.0)
    sx = torch.tensor([[0.0, 0.0], [4.0, 0.0]]).view(2, 2, 1, 1)
    sy = torch.tensor([0, 1])
    q = torch.tensor([[1.0, 0.0], [3.0, 0.0], [5.0, 0.0]])
    d = torch.cdist(q, torch.tensor([[0.0, 0.0], [4.0, 0.0]])) ** 2
    w = torch.softmax(-d / 2.0, -1)  # [Q, N]
    protos = torch.stack(
        [
            (torch.tensor([0.0, 0.0]) + w[:, 0] @ q) / (1 + w[:, 0].sum()),
            (torch.tensor([4.0, 0.0]) + w[:, 1] @ q) / (1 + w[:, 1].sum()),
        ]
    )
    got = learner.adapt(sx, sy).predict(q.view(3, 2, 1, 1)).logits
    assert torch.allclose(got, -(torch.cdist(q, protos) ** 2), atol=1e-5)
    plain = ProtoNet(Identity()).adapt(sx, sy).predict(q.view(3, 2, 1, 1)).logits
    assert not torch.allclose(got, plain)  # the queries moved the prototypes


def test_transductive_helps_when_queries_cluster_and_batched_equals_single():
    """Support examples placed off their class centre misclassify queries inductively; soft k-means over the
    (well clustered) queries pulls the prototypes to the centres. The batched path equals the per-task one."""
    torch.manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [3.0, 0.0]])
    qy = torch.arange(2).repeat(20)
    q = centres[qy] + 0.3 * torch.randn(40, 2)
    sx, sy = torch.tensor([[1.0, 0.0], [5.0, 0.0]]), torch.tensor([0, 1])  # both examples off their class centres
    acc = {}
    for steps in (0, 5):
        pred = (
            ProtoNet(Identity(), transductive_steps=steps).adapt(sx.view(2, 2, 1, 1), sy).predict(q.view(40, 2, 1, 1))
        )
        acc[steps] = (pred.logits.argmax(-1) == qy).float().mean().item()
    assert acc[0] < 0.8 and acc[5] > 0.95, acc
    learner = ProtoNet(Identity(), distance="cosine", transductive_steps=3, transductive_temperature=0.5)
    b = TaskBatch(
        torch.rand(3, 4, 2, 1, 1),
        torch.tensor([0, 1, 0, 1]).expand(3, 4),
        torch.rand(3, 6, 2, 1, 1),
        torch.tensor([0, 1, 0, 1, 0, 1]).expand(3, 6),
        ways=2,
    )
    single = torch.stack([learner.adapt(t.support_x, t.support_y, 2).predict(t.query_x).logits for t in b])
    assert torch.allclose(learner.predict_batch(b).logits, single, atol=1e-5)


def test_transductive_settings_checked():
    for bad in (
        {"transductive_steps": -1},
        {"transductive_temperature": 0.0},
        {"transductive_steps": 2, "head_steps": 5, "distance": "cosine"},
    ):
        with pytest.raises(ValueError, match="transductive"):
            ProtoNet(Identity(), **bad)
