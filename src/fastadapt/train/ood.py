"""Out-of-scope detection (Hendrycks & Gimpel, 2017; Larson et al., 2019): does a learner's confidence (the
maximum softmax probability) drop on queries that belong to no support class? Reported as AUROC: the
probability that an in-scope query scores higher than an out-of-scope one."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from ..learners.base import Learner
from ..stats import ci95


def auroc(pos: Tensor, neg: Tensor) -> float:
    """Area under the ROC curve of scores ``pos`` (positives) against ``neg``; ties count one half."""
    if pos.numel() == 0 or neg.numel() == 0:
        raise ValueError("AUROC needs at least one positive and one negative score.")
    s = torch.cat([pos.flatten(), neg.flatten()]).double()
    order = s.argsort()
    ranks = torch.empty_like(s)
    ranks[order] = torch.arange(1, len(s) + 1, dtype=torch.float64)
    for v in s.unique()[s.unique(return_counts=True)[1] > 1]:  # average ranks of ties
        ranks[s == v] = ranks[s == v].mean()
    n_p, n_n = pos.numel(), neg.numel()
    return float((ranks[:n_p].sum() - n_p * (n_p + 1) / 2) / (n_p * n_n))


@torch.no_grad()
def oos_auroc(
    learner: Learner, sampler: Any, episodes: int = 600, batch_size: int = 50, device: str | torch.device = "cpu"
) -> dict[str, float]:
    """Maximum-softmax-probability AUROC of in-scope queries against out-of-scope ones, per episode (mean
    and 95% CI) and pooled over all episodes. ``sampler`` needs ``oos_batch(index, batch_size)``."""
    was = learner.training
    learner.eval()
    per, pos_all, neg_all = [], [], []
    try:
        for i, lo in enumerate(range(0, episodes, batch_size)):
            b = sampler.batch(i, min(batch_size, episodes - lo)).to(device)
            oos = sampler.oos_batch(i, len(b)).to(device)
            q = b.query_x.shape[1]
            both = replace(
                b,
                query_x=torch.cat([b.query_x, oos], 1),
                query_y=torch.cat([b.query_y, b.query_y.new_zeros(oos.shape[:2])], 1),
            )
            msp = learner.predict_batch(both).probs.max(-1).values.cpu()
            for t in range(len(b)):
                per.append(auroc(msp[t, :q], msp[t, q:]))
            pos_all.append(msp[:, :q])
            neg_all.append(msp[:, q:])
    finally:
        learner.train(was)
    per_t = torch.tensor(per, dtype=torch.float64)
    return {
        "oos_auroc": float(per_t.mean()),
        "oos_auroc_ci95": ci95(per_t),
        "oos_auroc_pooled": auroc(torch.cat(pos_all), torch.cat(neg_all)),
        "oos_episodes": len(per),
    }
