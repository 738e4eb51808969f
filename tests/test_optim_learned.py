"""LearnedOptimizer: the standard torch.optim protocol, state_dict round trip, loading trained weights."""

import json

import pytest
import torch
from torch import nn

from fastadapt.checkpoint import CheckpointError, save_checkpoint
from fastadapt.optim import LearnedOptimizer, LSTMRule, MLPRule, load_rule


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))


def _loss(model):
    x = torch.linspace(-1, 1, 20).reshape(5, 4)
    return model(x).pow(2).mean()


@pytest.mark.parametrize("rule_cls", [LSTMRule, MLPRule])
def test_steps_parameters_in_place(rule_cls):
    torch.manual_seed(1)
    rule = rule_cls(hidden=8)
    model = _model()
    opt = LearnedOptimizer(model.parameters(), rule)
    w = model[0].weight
    ptr, before = w.data_ptr(), w.detach().clone()
    opt.zero_grad()
    _loss(model).backward()
    grad = w.grad.clone()
    opt.step()
    expected, _ = rule(before.reshape(-1), grad.reshape(-1), rule.init_state(before.reshape(-1)), 0)
    assert w.data_ptr() == ptr  # same tensor, updated in place
    torch.testing.assert_close(w.detach(), before + expected.detach().view_as(w))
    assert opt.state[w]["step"] == 1
    opt.zero_grad()
    assert w.grad is None


def test_lr_scales_the_update_and_closure_is_called():
    rule = LSTMRule(hidden=8)
    m1, m2 = _model(), _model()
    o1, o2 = LearnedOptimizer(m1.parameters(), rule), LearnedOptimizer(m2.parameters(), rule, lr=0.5)
    b = [p.detach().clone() for p in m1.parameters()]
    loss = o1.step(lambda: (o1.zero_grad(), _loss(m1).backward(), _loss(m1))[-1])
    assert loss is not None and loss.item() > 0
    o2.zero_grad()
    _loss(m2).backward()
    o2.step()
    for p0, p1, p2 in zip(b, m1.parameters(), m2.parameters()):
        torch.testing.assert_close(p2 - p0, 0.5 * (p1 - p0))
    with pytest.raises(ValueError, match="lr"):
        LearnedOptimizer(m1.parameters(), rule, lr=-1)


@pytest.mark.parametrize("rule_cls", [LSTMRule, MLPRule])
def test_state_dict_round_trip(rule_cls):
    torch.manual_seed(2)
    rule = rule_cls(hidden=8)
    a, b = _model(), _model()
    oa = LearnedOptimizer(a.parameters(), rule)
    for _ in range(3):
        oa.zero_grad()
        _loss(a).backward()
        oa.step()
    b.load_state_dict(a.state_dict())
    ob = LearnedOptimizer(b.parameters(), rule)
    sd = oa.state_dict()
    ob.load_state_dict(sd)
    assert ob.state_dict()["state"][0]["step"] == 3
    for m, o in ((a, oa), (b, ob)):
        o.zero_grad()
        _loss(m).backward()
        o.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    # the state carried information: a fresh optimizer from the same point steps differently
    c = _model()
    c.load_state_dict(b.state_dict())
    a.load_state_dict(b.state_dict())
    for m, o in ((a, oa), (c, LearnedOptimizer(c.parameters(), rule))):
        o.zero_grad()
        _loss(m).backward()
        o.step()
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_weights_from_a_run_folder(tmp_path):
    rule = LSTMRule(hidden=5, out_scale=0.2)
    cfg = {"trainer": "l2o", **rule.config()}
    save_checkpoint(tmp_path / "best.safetensors", rule, {"config": cfg})
    loaded, got = load_rule(tmp_path)
    assert got["l2o_hidden"] == 5 and loaded.out_scale == 0.2
    for x, y in zip(rule.parameters(), loaded.parameters()):
        assert torch.equal(x, y)
    model = _model()
    opt = LearnedOptimizer(model.parameters(), weights=str(tmp_path))
    assert opt.param_groups[0]["weights"] == str(tmp_path)
    json.dumps(opt.state_dict()["param_groups"])  # serializable
    save_checkpoint(tmp_path / "other.safetensors", nn.Linear(2, 2), {"config": {"method": "protonet"}})
    with pytest.raises(ValueError, match="not a learned-optimizer"):
        LearnedOptimizer(model.parameters(), weights=tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="No checkpoint"):
        LearnedOptimizer(model.parameters(), weights=tmp_path / "missing")


def test_double_precision_model_with_a_float_rule():
    rule = MLPRule(hidden=8)
    model = _model().double()
    opt = LearnedOptimizer(model.parameters(), rule)
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(2):
        opt.zero_grad()
        model(torch.ones(2, 4, dtype=torch.float64)).sum().backward()
        opt.step()
    assert all(p.dtype == torch.float64 and not torch.equal(p, b) for p, b in zip(model.parameters(), before))
    opt.load_state_dict(opt.state_dict())  # state cast to float64 and back
    opt.step()
