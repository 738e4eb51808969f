"""Inner-loop optimizers (fastadapt.optim.inner): each update against its closed form, the learned rule's step
against the rule applied by hand, a gradient learner meta-training a learned inner rule (its meta-gradient
against finite differences), and old checkpoints (learned rates at ``lrs.<i>``) still loading."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from fastadapt.checkpoint import load_checkpoint, save_checkpoint
from fastadapt.learners import MAML, MetaSGD
from fastadapt.optim import SGD, LearnedRuleStep, MLPRule, PerLayerStepSGD, PerParameterSGD


def params_and_grads(seed: int = 0) -> tuple[dict, dict]:
    g = torch.Generator().manual_seed(seed)
    shapes = {"w": (3, 2), "b": (3,)}
    p = {n: torch.randn(s, generator=g, dtype=torch.float64) for n, s in shapes.items()}
    return p, {n: torch.randn(s, generator=g, dtype=torch.float64) for n, s in shapes.items()}


def test_sgd_is_gradient_descent_with_a_second_rate_after_the_first_step():
    p, g = params_and_grads()
    opt = SGD(0.5, later_lr=0.1)
    first, _ = opt.step(p, g, opt.init_state(p), 0)
    later, _ = opt.step(p, g, {}, 2)
    for n in p:
        torch.testing.assert_close(first[n], p[n] - 0.5 * g[n])
        torch.testing.assert_close(later[n], p[n] - 0.1 * g[n])
    with pytest.raises(ValueError, match="inner_lr must be a finite number"):
        SGD(float("nan"))


def test_learned_rates_elementwise_and_per_layer_and_step():
    p, g = params_and_grads()
    meta_sgd = PerParameterSGD(p, 0.2)
    assert [r.shape for r in meta_sgd.lrs] == [v.shape for v in p.values()]
    with torch.no_grad():
        meta_sgd.lrs[0].copy_(torch.arange(6.0).reshape(3, 2))
    out, _ = meta_sgd.step(p, g, {}, 0)
    torch.testing.assert_close(out["w"], p["w"] - torch.arange(6.0).reshape(3, 2).double() * g["w"])
    torch.testing.assert_close(out["b"], p["b"] - 0.2 * g["b"])

    lslr = PerLayerStepSGD(list(p), steps=2, lr=0.3)
    with torch.no_grad():
        lslr.lrs[1].copy_(torch.tensor([0.3, 0.7]))
    for t, rate in ((0, 0.3), (1, 0.7), (5, 0.7)):  # steps past the last reuse its rate
        out, _ = lslr.step(p, g, {}, t)
        torch.testing.assert_close(out["b"], p["b"] - rate * g["b"])


def test_learned_rule_step_applies_the_rule_to_each_flattened_tensor_with_its_own_state():
    torch.manual_seed(0)
    rule = MLPRule(hidden=8).double()
    opt = LearnedRuleStep(rule)
    p, g = params_and_grads()
    state = opt.init_state(p)
    new_p, new_s = opt.step(p, g, state, 3)
    for n in p:
        delta, st = rule(p[n].reshape(-1), g[n].reshape(-1), rule.init_state(p[n].reshape(-1)), 3)
        torch.testing.assert_close(new_p[n], p[n] + delta.view_as(p[n]))
        torch.testing.assert_close(new_s[n]["m"], st["m"])


def test_maml_with_a_learned_inner_rule_meta_gradient_matches_finite_differences():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    rule = MLPRule(hidden=4, dir_scale=0.1).double()
    learner = MAML(net, inner_steps=2, task_type="regression", inner_optimizer=LearnedRuleStep(rule))
    assert any(p is q for p in learner.parameters() for q in rule.parameters())  # meta-trained with the rest
    g = torch.Generator().manual_seed(1)
    sx, qx = torch.randn(6, 2, generator=g, dtype=torch.float64), torch.randn(8, 2, generator=g, dtype=torch.float64)
    sy, qy = sx.sum(1, keepdim=True).sin(), qx.sum(1, keepdim=True).sin()

    def query_loss() -> torch.Tensor:
        fast = learner.adapt(sx, sy)
        return (fast.predict(qx).mean - qy).square().mean()

    w = rule.net[0].weight
    (analytic,) = torch.autograd.grad(query_loss(), w)
    eps, numeric = 1e-6, torch.zeros_like(w)
    with torch.no_grad():
        for idx in [(0, 0), (1, 3), (3, 5)]:
            w[idx] += eps
            up = query_loss()
            w[idx] -= 2 * eps
            down = query_loss()
            w[idx] += eps
            numeric[idx] = (up - down) / (2 * eps)
            torch.testing.assert_close(analytic[idx], numeric[idx], rtol=1e-5, atol=1e-9)
    assert analytic.abs().sum() > 0


def test_an_inner_optimizer_must_be_one():
    with pytest.raises(TypeError, match="InnerOptimizer"):
        MAML(nn.Linear(2, 2), inner_optimizer=torch.optim.SGD)
    learner = MetaSGD(nn.Linear(2, 2))
    with pytest.raises(AttributeError, match="meta-learned parameters"):
        learner.inner_lr = 0.1


def test_checkpoint_with_the_old_learned_rate_keys_still_loads(tmp_path):
    torch.manual_seed(0)
    learner = MetaSGD(nn.Linear(3, 2), inner_lr=0.3)
    with torch.no_grad():
        learner.lrs[0].mul_(2.0)
    path = tmp_path / "new.safetensors"
    save_checkpoint(path, learner, {"config": {"method": "metasgd"}})
    old = {k.replace("model.inner_optimizer.lrs.", "model.lrs."): v for k, v in load_file(path).items()}
    assert "model.lrs.0" in old
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    save_file(old, tmp_path / "old.safetensors", metadata=meta)
    assert json.loads(meta["fastadapt"])["meta"]["config"]["method"] == "metasgd"
    fresh = MetaSGD(nn.Linear(3, 2), inner_lr=0.3)
    load_checkpoint(tmp_path / "old.safetensors", fresh)
    torch.testing.assert_close(fresh.lrs[0], learner.lrs[0])
