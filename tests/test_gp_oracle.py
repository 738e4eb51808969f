"""A regression learner against the exact GP (train/gp_oracle.py): a learner that predicts the GP's own posterior
has no gap, a worse one has the gap its predictive's KL says."""

from types import SimpleNamespace

import pytest
import torch

from fastadapt.tasks.gp import GPTasks, Kernel, gp_posterior
from fastadapt.train.gp_oracle import GAP_JOINT, GAP_MARGINAL, evaluate_against_oracle


class PosteriorPredictor:
    """Predicts the exact GP posterior's marginals, widened by ``scale`` in variance; factorized (a CNP's form)."""

    def __init__(self, tasks: GPTasks, scale: float = 1.0):
        self.tasks, self.scale = tasks, scale

    def eval(self):
        return self

    def predict_batch(self, b):
        m, cov = gp_posterior(self.tasks.kernel, self.tasks.noise, b.support_x, b.support_y, b.query_x)
        var = self.scale * torch.diagonal(cov, dim1=-2, dim2=-1)
        return SimpleNamespace(mean=m.unsqueeze(-1), var=var.unsqueeze(-1))

    def log_likelihood(self, b):
        pred = self.predict_batch(b)
        dist = torch.distributions.Normal(pred.mean, pred.var.sqrt())
        return dist.log_prob(b.query_y.double()).flatten(1).mean(-1)


def test_the_exact_posterior_has_no_marginal_gap_and_its_joint_gap_is_the_diagonal_gps():
    tasks = GPTasks(Kernel("eq", 0.25, 1.0), 0.2, context="1-30", targets=20, seed=0, part="test")
    res = evaluate_against_oracle(PosteriorPredictor(tasks), tasks, functions=40, batch=10)
    assert res[GAP_MARGINAL]["mean"] == pytest.approx(0.0, abs=1e-9)
    assert res[GAP_JOINT]["mean"] == pytest.approx(res["diagonal_gp_gap (oracle_joint - oracle_marginal)"]["mean"])
    assert res[GAP_JOINT]["mean"] > 0  # correlated targets: a factorized model cannot reach the joint
    assert res["coverage"] == res["oracle_coverage"]
    assert res["functions"] == 40 and res["context_counts"]["min"] >= 1


def test_a_too_wide_predictive_has_the_closed_form_gaussian_kl():
    # KL(N(m, v) || N(m, s v)) = (log s + 1 / s - 1) / 2 per point, in expectation over the targets
    tasks = GPTasks(Kernel("eq", 0.25, 1.0), 0.2, context="1-30", targets=20, seed=0, part="test")
    s = 4.0
    res = evaluate_against_oracle(PosteriorPredictor(tasks, scale=s), tasks, functions=100, batch=25)
    kl = 0.5 * (torch.log(torch.tensor(s)).item() + 1 / s - 1)
    gap = res[GAP_MARGINAL]
    assert abs(gap["mean"] - kl) < 2 * gap["ci95"] + 0.01


def test_bad_counts_are_refused():
    tasks = GPTasks(Kernel("eq", 0.25, 1.0), 0.2, context=5, targets=5, seed=0)
    with pytest.raises(ValueError, match="must be positive"):
        evaluate_against_oracle(PosteriorPredictor(tasks), tasks, functions=0)
