"""Learned update rules: the coordinatewise LSTM (Andrychowicz 2016) and the feature MLP (Metz 2020)."""

import pytest
import torch

from fastadapt.optim.rules import LSTMRule, MLPRule, build_rule


def test_lstm_is_coordinatewise():
    torch.manual_seed(0)
    rule = LSTMRule(hidden=8)
    p, g = torch.randn(6), torch.randn(6)
    d, st = rule(p, g, rule.init_state(p), 0)
    perm = torch.randperm(6)
    d2, st2 = rule(p[perm], g[perm], {k: v[perm] for k, v in rule.init_state(p).items()}, 0)
    torch.testing.assert_close(d2, d[perm])
    assert set(st) == {"h0", "c0", "h1", "c1"} and st["h1"].shape == (6, 8)
    # one coordinate's update depends only on its own gradient
    g3 = g.clone()
    g3[0] += 1.0
    d3, _ = rule(p, g3, rule.init_state(p), 0)
    assert d3[0] != d[0] and torch.equal(d3[1:], d[1:])


def test_lstm_output_scale_is_a_multiplier():
    torch.manual_seed(0)
    a, b = LSTMRule(hidden=8, out_scale=0.1), LSTMRule(hidden=8, out_scale=0.3)
    b.load_state_dict(a.state_dict())
    p, g = torch.randn(5), torch.randn(5)
    torch.testing.assert_close(b(p, g, b.init_state(p), 0)[0], 3 * a(p, g, a.init_state(p), 0)[0])


def test_mlp_update_is_invariant_to_gradient_scale():
    # every gradient feature is normalized by its second moment (Metz 2020), so g and 100 g give one update
    torch.manual_seed(0)
    rule = MLPRule(hidden=16).double()
    p, g = torch.randn(7, dtype=torch.float64), torch.randn(7, dtype=torch.float64)
    d1, s1 = rule(p, g, rule.init_state(p), 0)
    d2, _ = rule(p, 100 * g, rule.init_state(p), 0)
    torch.testing.assert_close(d1, d2, rtol=1e-3, atol=1e-9)  # equal up to the epsilon in the normalizers
    assert not torch.allclose(d1, rule(p, g.flip(0), rule.init_state(p), 0)[0])
    torch.testing.assert_close(s1["m"][:, 1], 0.1 * g)  # momentum with decay 0.9 after one step
    assert s1["v"].shape == (7,)


def test_build_rule_and_errors():
    assert isinstance(build_rule({"l2o_net": "lstm", "l2o_hidden": 4}), LSTMRule)
    r = build_rule({"l2o_net": "mlp", "l2o_hidden": 4, "decays": "0.9,0.99"})
    assert isinstance(r, MLPRule) and r.decays == (0.9, 0.99)
    assert build_rule(r.config()).decays == (0.9, 0.99)
    with pytest.raises(ValueError, match="l2o_net"):
        build_rule({"l2o_net": "transformer"})
    with pytest.raises(ValueError, match="decays"):
        MLPRule(decays=(1.5,))
