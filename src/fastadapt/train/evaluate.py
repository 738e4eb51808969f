"""Few-shot evaluation as the papers do it: mean accuracy over many test episodes with a 95% confidence
interval (1.96 standard errors), plus NLL and expected calibration error of the query probabilities."""
from __future__ import annotations

import math
import time
from typing import Any

import torch

from ..learners.base import Learner
from ..tasks.sampler import EpisodeSampler
from .calibration import brier, ece, nll


@torch.no_grad()
def collect(learner: Learner, sampler: EpisodeSampler, episodes: int = 1000, batch_size: int = 50,
            device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor, float]:
    """Query probabilities ``[E, Q, N]`` and labels ``[E, Q]`` over ``episodes`` episodes, and seconds."""
    if episodes <= 0:
        raise ValueError(f"episodes must be positive, got {episodes}.")
    was_training = learner.training
    learner.eval()
    probs, labels = [], []
    start = time.perf_counter()
    try:
        for i, lo in enumerate(range(0, episodes, batch_size)):
            batch = sampler.batch(i, min(batch_size, episodes - lo)).to(device)
            probs.append(learner.predict_batch(batch).probs.float().cpu())
            labels.append(batch.query_y.cpu())
    finally:
        learner.train(was_training)
    return torch.cat(probs), torch.cat(labels), time.perf_counter() - start


def summarize(probs: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """Accuracy with 95% CI over episodes, NLL, ECE (15 bins) and Brier score over all queries."""
    acc = (probs.argmax(-1) == labels).float().mean(-1).double()
    n = len(acc)
    flat_p, flat_y = probs.reshape(-1, probs.shape[-1]).double(), labels.reshape(-1)
    return {"accuracy": float(acc.mean()),
            "ci95": float(1.96 * acc.std(unbiased=True) / math.sqrt(n)) if n > 1 else float("nan"),
            "nll": nll(flat_p, flat_y), "ece": ece(flat_p, flat_y), "brier": brier(flat_p, flat_y),
            "episodes": n}


def evaluate(learner: Learner, sampler: EpisodeSampler, episodes: int = 1000, batch_size: int = 50,
             device: str | torch.device = "cpu") -> dict[str, Any]:
    probs, labels, secs = collect(learner, sampler, episodes, batch_size, device)
    out = summarize(probs, labels)
    out.update(ways=sampler.ways, shots=sampler.shots, queries=sampler.queries,
               seconds=secs, episodes_per_second=episodes / secs)
    return out
