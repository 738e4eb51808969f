"""Conditional Neural Process (learners/cnp.py)."""

import pytest
import torch

from fastadapt.learners.cnp import CNP
from fastadapt.tasks.gp import GPTasks


def test_invariant_to_context_order():
    torch.manual_seed(0)
    model = CNP()
    b = GPTasks(context=20, targets=15, seed=0).batch(0, 2)
    perm = torch.randperm(20)
    p1 = model.adapt(b.support_x[0], b.support_y[0]).predict(b.query_x[0])
    p2 = model.adapt(b.support_x[0, perm], b.support_y[0, perm]).predict(b.query_x[0])
    assert torch.allclose(p1.mean, p2.mean, atol=1e-6) and torch.allclose(p1.var, p2.var, atol=1e-6)
    # ... but not to changing a context value
    y = b.support_y[0].clone()
    y[0] += 10.0
    p3 = model.adapt(b.support_x[0], y).predict(b.query_x[0])
    assert (p1.mean - p3.mean).abs().max() > 1e-5


def test_batched_path_equals_per_task_and_var_floor():
    torch.manual_seed(1)
    model = CNP()
    b = GPTasks(context=8, targets=6, seed=2).batch(1, 3)
    pb = model.predict_batch(b)
    for i, t in enumerate(b):
        p = model.adapt(t.support_x, t.support_y).predict(t.query_x)
        assert torch.allclose(pb.mean[i], p.mean, atol=1e-6)
    assert pb.mean.shape == (3, 6, 1) and (pb.var >= 0.01 - 1e-7).all()


def test_empty_context_and_bad_shapes_raise():
    model = CNP()
    with pytest.raises(ValueError, match="empty"):
        model.adapt(torch.zeros(0, 1), torch.zeros(0, 1))
    with pytest.raises(ValueError, match="trailing dimension"):
        model.adapt(torch.zeros(5), torch.zeros(5))


@pytest.mark.slow
def test_short_training_improves_target_log_likelihood():
    torch.manual_seed(0)
    model = CNP(hidden=64)
    train, test = (
        GPTasks(context="3-50", targets="1-50", seed=0),
        GPTasks(context="3-50", targets=50, seed=0, part="test"),
    )
    before = torch.cat([model.log_likelihood(test.batch(i, 20)) for i in range(5)]).mean()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for step in range(400):
        loss, _ = model.meta_loss(train.batch(step, 16))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = torch.cat([model.log_likelihood(test.batch(i, 20)) for i in range(5)]).mean()
    assert after > before + 0.3, (before, after)
