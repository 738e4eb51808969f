import pytest
import torch

from fastadapt.tasks import build_sampler
from fastadapt.tasks.linreg import LinearRegressionTasks, averaging, least_squares, nearest_neighbours, ridge
from fastadapt.train.icl_curves import incontext_curve, plot_curves


def test_tasks_are_linear_deterministic_and_parts_differ():
    t = LinearRegressionTasks(4, 6, 3, seed=0)
    a, b = t.batch(5, 2), t.batch(5, 2)
    assert torch.equal(a.support_x, b.support_x) and a.ways is None
    x = torch.cat([a.support_x, a.query_x], 1)
    y = torch.cat([a.support_y, a.query_y], 1)
    w = torch.linalg.lstsq(x, y.unsqueeze(-1)).solution
    assert torch.allclose(x @ w, y.unsqueeze(-1), atol=1e-4)  # noiseless: exactly linear
    test = build_sampler({"dataset": "linreg", "linreg_dim": 4}, "test", None, 6, 3, 0)
    assert not torch.equal(test.batch(5, 2).support_x, a.support_x)
    with pytest.raises(ValueError, match="part must be one of"):
        LinearRegressionTasks(4, 6, 3, part="dev")


def test_baselines_closed_forms():
    b = LinearRegressionTasks(3, 6, 5, seed=1).batch(0, 4)
    assert torch.allclose(least_squares(b.support_x, b.support_y, b.query_x), b.query_y, atol=1e-4)  # k >= d: exact
    # below d examples: the minimum-norm interpolant fits the support exactly
    fit = least_squares(b.support_x[:, :2], b.support_y[:, :2], b.support_x[:, :2])
    assert torch.allclose(fit, b.support_y[:, :2], atol=1e-4)
    assert torch.allclose(ridge(b.support_x, b.support_y, b.query_x, lam=0.0), b.query_y, atol=1e-3)
    sx = torch.tensor([[[0.0], [1.0], [2.0], [10.0]]])
    sy = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    assert torch.allclose(nearest_neighbours(sx, sy, torch.tensor([[[1.1]]])), torch.tensor([[2.0]]))
    assert torch.allclose(averaging(sx, sy, torch.ones(1, 1, 1)), torch.tensor([[(0 + 2 + 6 + 1000) / 4]]))
    assert least_squares(sx[:, :0], sy[:, :0], sx).abs().sum() == 0


def test_curve_and_plot(tmp_path):
    tasks = LinearRegressionTasks(3, 6, 5, seed=0, part="test")
    res = incontext_curve(None, tasks, list(range(7)), n_tasks=300, batch_size=100)
    ls = res["curves"]["least_squares"]["error"]
    assert abs(ls[0] - 1.0) < 0.15 and ls[3] < 1e-6 and ls[1] > ls[2] > ls[3]  # Garg Fig. 2 shape
    plot_curves(res, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="shots >= 9"):
        incontext_curve(None, tasks, [9])
