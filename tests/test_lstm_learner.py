"""Recurrent meta-learner (Hochreiter 2001): query-order independence, support shuffling, training."""

import pytest
import torch

from fastadapt.learners.lstm_learner import LSTMLearner
from fastadapt.nn.conv4 import Conv4
from fastadapt.tasks.task import TaskBatch


def model(**kw):
    torch.manual_seed(0)
    return LSTMLearner(Conv4(1, 16), feat=16, embed=8, hidden=40, max_ways=5, **kw)


def batch(b=2, n=4, k=2, q=3):
    g = torch.Generator().manual_seed(1)
    return TaskBatch(
        torch.rand(b, n * k, 1, 28, 28, generator=g),
        torch.arange(n).repeat_interleave(k).expand(b, -1).clone(),
        torch.rand(b, n * q, 1, 28, 28, generator=g),
        torch.arange(n).repeat_interleave(q).expand(b, -1).clone(),
        ways=n,
    )


@pytest.mark.parametrize("binding", ["outer", "concat"])
def test_output_does_not_depend_on_query_order(binding):
    m, bt = model(binding=binding).eval(), batch()
    perm = torch.randperm(bt.query_x.shape[1])
    with torch.no_grad():
        p = m.adapt(bt[0].support_x, bt[0].support_y)
        torch.testing.assert_close(p.predict(bt[0].query_x[perm]).logits, p.predict(bt[0].query_x).logits[perm])
        shuffled = TaskBatch(bt.support_x, bt.support_y, bt.query_x[:, perm], bt.query_y[:, perm], ways=bt.ways)
        torch.testing.assert_close(
            m.predict_batch(shuffled).logits, m.predict_batch(bt).logits[:, perm], atol=1e-5, rtol=1e-5
        )


def test_batched_path_matches_adapt_and_reads_support_in_order():
    m, bt = model().eval(), batch()
    with torch.no_grad():
        batched = m.predict_batch(bt).logits
        for i, t in enumerate(bt):
            torch.testing.assert_close(
                m.adapt(t.support_x, t.support_y, t.ways).predict(t.query_x).logits, batched[i], atol=1e-5, rtol=1e-5
            )
        rev = m.adapt(bt[0].support_x.flip(0), bt[0].support_y.flip(0)).predict(bt[0].query_x).logits
    assert not torch.allclose(rev, batched[0])  # a sequence model: support order can matter


def test_cosine_readout_is_invariant_to_the_norm_of_generated_weights():
    m, bt = model(readout="cosine").eval(), batch()
    with torch.no_grad():
        p = m.adapt(bt[0].support_x, bt[0].support_y)
        e = m.project(bt[0].query_x)
        expected = 10.0 * torch.nn.functional.cosine_similarity(e[:, None], p.weight[None], dim=-1) + p.bias
        torch.testing.assert_close(p.predict(bt[0].query_x).logits, expected, atol=1e-5, rtol=1e-5)
        scaled = m.classify(e, p.weight * torch.tensor([[1.0], [5.0], [0.2], [3.0]]), p.bias)
        torch.testing.assert_close(scaled, expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(m.predict_batch(bt).logits[0], expected, atol=1e-5, rtol=1e-5)
    assert m.cosine_scale in list(m.parameters())
    with pytest.raises(ValueError, match="lstm_readout"):
        model(readout="euclid")


def test_training_shuffles_the_support_reproducibly(monkeypatch):
    m, bt = model().train(), batch()
    seen = []
    original = LSTMLearner.read
    monkeypatch.setattr(LSTMLearner, "read", lambda self, e, y, w: (seen.append(y.clone()), original(self, e, y, w))[1])
    m.meta_loss(bt)
    m.meta_loss(bt)
    assert not torch.equal(seen[0], bt.support_y) and torch.equal(seen[0], seen[1])
    assert (torch.sort(seen[0], 1).values == bt.support_y).all()
    model(shuffle_support=False).meta_loss(bt)
    assert torch.equal(seen[2], bt.support_y)


def test_clear_errors():
    with pytest.raises(ValueError, match="binding"):
        LSTMLearner(binding="sum")
    bt = batch(n=6, k=1)
    with pytest.raises(ValueError, match="max_ways"):
        model().adapt(bt[0].support_x, bt[0].support_y)


def test_param_groups_cover_every_parameter_once_with_the_recurrent_scale():
    m = LSTMLearner(Conv4(1, 8), feat=8, embed=4, hidden=20, max_ways=5, recurrent_lr_scale=0.1)
    groups = m.param_groups()
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in m.parameters())
    assert [g.get("lr_scale", 1.0) for g in groups] == [1.0, 0.1]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in [*m.lstm.parameters(), *m.readout.parameters()]}
    with pytest.raises(ValueError, match="lstm_lr_scale"):
        LSTMLearner(recurrent_lr_scale=0.0)


@pytest.mark.slow
def test_short_training_beats_chance(data_root):
    from fastadapt.presets import DEFAULTS
    from fastadapt.tasks import build_sampler
    from fastadapt.train.evaluate import evaluate

    torch.manual_seed(0)
    cfg = dict(DEFAULTS, data_root=str(data_root))
    m = LSTMLearner(
        Conv4(1, 32), feat=32, embed=32, hidden=160, max_ways=5, readout="cosine", recurrent_lr_scale=0.1
    )  # as the presets
    train = build_sampler(cfg, "train", 5, 1, 5, seed=0)
    opt = torch.optim.Adam(m.param_groups(), lr=3e-3)
    for group in opt.param_groups:
        group["lr"] *= group.get("lr_scale", 1.0)
    for step in range(150):
        loss, _ = m.meta_loss(train.batch(step, 2))
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = evaluate(m, build_sampler(cfg, "test", 5, 1, 5, seed=1), 200)["accuracy"]
    assert acc > 0.35, acc  # chance: 0.2


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_lstm_final_state_equals_nn_lstm_in_value_and_gradient(steps):
    from fastadapt.learners.lstm_learner import lstm_final_state

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(7, 12, batch_first=True).double()
    x = torch.randn(3, steps, 7, dtype=torch.float64, requires_grad=True)
    _, (h_ref, c_ref) = lstm(x)
    h, c = lstm_final_state(lstm, x)
    assert torch.allclose(h, h_ref[0]) and torch.allclose(c, c_ref[0])
    g_ref = torch.autograd.grad((h_ref * c_ref).sum(), [x, lstm.weight_hh_l0])
    g = torch.autograd.grad((h * c).sum(), [x, lstm.weight_hh_l0], materialize_grads=True)  # unused at 1 step
    assert all(torch.allclose(a, b) for a, b in zip(g, g_ref))
    with pytest.raises(ValueError, match="one-layer"):
        lstm_final_state(torch.nn.LSTM(7, 12, num_layers=2, batch_first=True), x.float())
    with pytest.raises(ValueError, match="at least one step"):
        lstm_final_state(lstm, x[:, :0])
