"""Benchmark: how three estimates of a trained Neural Process's joint target likelihood converge with the number
of latent draws, on the GP test functions of ``benchmarks/gp_np.py``.

``log p(y_T | C) = log E_{q(z | C)} prod_t p(y_t | z)`` has no closed form. Three estimates, each a lower bound
in expectation, so each gap to the exact GP over-states the model's true gap:

- Monte Carlo from the conditional prior (``NeuralProcess.log_likelihood``; Bruinsma 2022's "ML" evaluation,
  512 draws): draws from q(z | C), most of which the 50 targets make unlikely;
- the ELBO (``NeuralProcess.elbo``; the thesis's "ELBO" evaluation): does not tighten with draws;
- importance weighting (``NeuralProcess.importance_weighted_log_likelihood``, Burda et al. 2016): draws from
  q(z | C u T), weighed by q(z | C) / q(z | C u T); tightens towards the likelihood as draws grow.

If the prior-sampling estimate still climbs between 512 and 4,096 draws while the importance-weighted one
stays put, the former's gap at 512 draws is mostly estimator bias, not the model.

    python benchmarks/np_likelihood_estimators.py results/gp-np-bruinsma2022-300k-plus600k --functions 300
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from fastadapt.tasks import build_sampler
from fastadapt.train.evaluate import ci95
from fastadapt.train.trainer import git_commit, load_run, machine


@torch.no_grad()
def estimates(learner, sampler, functions: int, batch: int, draws: list[int], seed: int) -> dict:
    """Mean gap to the exact GP's joint log-likelihood per target point, per estimator and number of draws."""
    gaps: dict[str, list[torch.Tensor]] = {}
    for i, lo in enumerate(range(0, functions, batch)):
        b = sampler.batch(i, min(batch, functions - lo))
        oracle = sampler.oracle(b)[0].double()
        for k in draws:
            torch.manual_seed(seed + k)
            gen = torch.Generator().manual_seed(seed + k + 1)
            for name, value in (
                ("prior_mc", learner.log_likelihood(b, k)),
                ("elbo", learner.elbo(b, k)),
                ("importance_weighted", learner.importance_weighted_log_likelihood(b, k, gen)),
            ):
                gaps.setdefault(f"{name}@{k}", []).append(oracle - value.double())
    return {key: {"mean": float(torch.cat(v).mean()), "ci95": ci95(torch.cat(v))} for key, v in gaps.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="trained NP / ANP run folders (gp_np.py)")
    p.add_argument("--functions", type=int, default=300)
    p.add_argument("--eval-batch", type=int, default=10)
    p.add_argument("--draws", type=int, nargs="+", default=[64, 512, 4096])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/np-likelihood-estimators.json")
    a = p.parse_args()
    t, out = time.time(), {}
    for run in a.runs:
        learner, cfg = load_run(run)
        if not hasattr(learner, "importance_weighted_log_likelihood"):
            raise SystemExit(
                f"{run} is a {type(learner).__name__}, not a latent Neural Process: its likelihood "
                "is exact, there is nothing to estimate. Pass runs of --method np or anp."
            )
        learner.eval()
        test = build_sampler(cfg, "test", None, cfg["shots"], cfg["queries"], cfg["eval_seed"])
        out[Path(run).name] = estimates(learner, test, a.functions, a.eval_batch, a.draws, a.seed)
        print(Path(run).name, {k: round(v["mean"], 3) for k, v in out[Path(run).name].items()}, flush=True)
    doc = {
        "command": "python " + " ".join(sys.argv),
        "seed": a.seed,
        "commit": git_commit(),
        "machine": machine(),
        "wall_seconds": time.time() - t,
        "functions": a.functions,
        "draws": a.draws,
        "metric": "oracle_joint - estimate, nats per target point (mean, 95% CI over functions); test functions "
        "as gp_np.py's (same eval seed, the first --functions of them)",
        "gaps": out,
    }
    Path(a.out).write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
