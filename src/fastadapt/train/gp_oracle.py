"""A regression learner against the exact Gaussian process its tasks are drawn from: per test function, the
model's and the GP's log-likelihoods of the targets per point, their paired gaps (the KL divergence of the true
predictive to the model's per target point, in expectation: the metric of Bruinsma 2022's re-evaluation of
(Conditional) Neural Processes, Garnelo et al. 2018) and the coverage of central predictive intervals."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..stats import ci95
from ..tasks.gp import GPTasks, gp_posterior
from .uncertainty import LEVELS, gaussian_log_likelihood, interval_coverage

GAP_JOINT = "gap_joint (oracle_joint - model_joint)"
GAP_ELBO = "gap_elbo (oracle_joint - model_elbo)"
GAP_IW = "gap_iw (oracle_joint - model_iw)"
GAP_MARGINAL = "gap_marginal (oracle_marginal - model_marginal)"


def mean_ci(x: Tensor) -> dict[str, float]:
    """Mean and 95% interval of per-function values."""
    return {"mean": float(x.double().mean()), "ci95": ci95(x)}


@torch.no_grad()
@torch.random.fork_rng(devices=[])  # seeds its own draws; the caller's random state is left as it was
def evaluate_against_oracle(
    learner: Any, sampler: GPTasks, functions: int, batch: int = 10, np_samples: int = 512, seed: int = 0
) -> dict[str, Any]:
    """Per-function log-likelihoods of model and oracle on ``functions`` test functions (``batch`` at a time, one
    context count per batch), their paired gaps and interval coverage. A latent-variable model (a Neural Process)
    is scored with ``np_samples`` latent draws three ways: Monte Carlo likelihood (``gap_joint``), ELBO and an
    importance-weighted estimate (Burda et al. 2016); a factorized one (a CNP) by its exact likelihood."""
    if functions <= 0 or batch <= 0:
        raise ValueError(f"functions and batch must be positive, got {functions} and {batch}.")
    torch.manual_seed(seed)
    iw_draws = torch.Generator().manual_seed(seed + 1)  # its own stream: the other estimates stay as before
    learner.eval()
    rows: dict[str, list[Tensor]] = {
        k: [] for k in ("model_marginal", "model_joint", "oracle_marginal", "oracle_joint")
    }
    ins: dict[str, list[Tensor]] = {f"{round(100 * lv)}": [] for lv in LEVELS}
    oracle_ins: dict[str, list[Tensor]] = {f"{round(100 * lv)}": [] for lv in LEVELS}
    contexts: list[int] = []
    for i, lo in enumerate(range(0, functions, batch)):
        b = sampler.batch(i, min(batch, functions - lo))
        pred = learner.predict_batch(b)  # NP: moment-matched mixture
        marg = gaussian_log_likelihood(pred.mean.double(), pred.var.double(), b.query_y.double()).flatten(1).mean(-1)
        if hasattr(learner, "latent_dist"):
            joint = learner.log_likelihood(b, np_samples).double()
            rows.setdefault("model_elbo", []).append(learner.elbo(b, np_samples).double())
            rows.setdefault("model_iw", []).append(
                learner.importance_weighted_log_likelihood(b, np_samples, generator=iw_draws).double()
            )
        else:
            joint = learner.log_likelihood(b).double()  # factorized: joint == product of marginals
        oj, om = sampler.oracle(b)
        rows["model_marginal"].append(marg)
        rows["model_joint"].append(joint)
        rows["oracle_marginal"].append(om)
        rows["oracle_joint"].append(oj)
        contexts += [b.support_x.shape[1]] * len(b)
        n = b.query_y.shape[1]
        for key, val in interval_coverage(pred.mean, pred.var, b.query_y).items():
            ins[key].append(torch.tensor(val * len(b) * n))
        m, cov = gp_posterior(sampler.kernel, sampler.noise, b.support_x, b.support_y, b.query_x)
        var = torch.diagonal(cov, dim1=-2, dim2=-1)
        for key, val in interval_coverage(m, var, b.query_y.double().squeeze(-1)).items():
            oracle_ins[key].append(torch.tensor(val * len(b) * n))
    cat = {k: torch.cat(v) for k, v in rows.items()}
    total = functions * sampler.batch(0, 1).query_y.shape[1]
    out = {
        "functions": functions,
        "context_counts": {"min": min(contexts), "max": max(contexts), "distinct": len(set(contexts))},
        "log_likelihood_per_point": {k: mean_ci(v) for k, v in cat.items()},
        GAP_MARGINAL: mean_ci(cat["oracle_marginal"] - cat["model_marginal"]),
        GAP_JOINT: mean_ci(cat["oracle_joint"] - cat["model_joint"]),
        "diagonal_gp_gap (oracle_joint - oracle_marginal)": mean_ci(cat["oracle_joint"] - cat["oracle_marginal"]),
    }
    if "model_elbo" in cat:
        out[GAP_ELBO] = mean_ci(cat["oracle_joint"] - cat["model_elbo"])
        out[GAP_IW] = mean_ci(cat["oracle_joint"] - cat["model_iw"])
    out["coverage"] = {k: float(sum(v)) / total for k, v in ins.items()}
    out["oracle_coverage"] = {k: float(sum(v)) / total for k, v in oracle_ins.items()}
    return out
