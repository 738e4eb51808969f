"""Benchmark: MAML and Meta-SGD on sinusoid regression (Finn 2017) against Li et al. (2017), Table 1.

For each shot count K, meta-trains the preset `sinusoid-<method>-<K>shot` into results/<preset>/, tests it
with one inner step on 1,000 test tasks (100 query points each; mean MSE with a 95% CI), writes the paper's
number beside ours, and plots the fits before and after adaptation on a few test tasks.

    python benchmarks/sinusoid_maml.py --method maml metasgd --shots 5 10 20     # paper's 70,000 iterations
    python benchmarks/sinusoid_maml.py --method maml --shots 5 --steps 200 --results /tmp/r   # smoke test
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import torch

from fastadapt.presets import get_preset
from fastadapt.tasks import build_sampler
from fastadapt.train.run_log import write_benchmark_record
from fastadapt.train.trainer import git_commit, load_run, machine, train

PAPER = {"maml": {5: 1.13, 10: 0.85, 20: 0.71}, "metasgd": {5: 0.90, 10: 0.53, 20: 0.31}}  # Li 2017, Table 1


def plot_fits(learner, cfg: dict, path: Path, tasks: int = 4) -> None:
    """Ground truth, support points, and the network before and after adaptation on ``tasks`` test tasks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sampler = build_sampler(cfg, "test", None, cfg["shots"], cfg["queries"], cfg["eval_seed"])
    batch = sampler.batch(0, tasks)
    amp, phase = sampler.task_params(0, tasks)
    grid = torch.linspace(-5, 5, 200).reshape(-1, 1)
    fig, axes = plt.subplots(1, tasks, figsize=(4 * tasks, 3.2), squeeze=False)
    learner.eval()
    for i, ax in enumerate(axes[0]):
        t = batch[i]
        with torch.no_grad():
            pre = learner._forward(learner._params(), grid)
        post = learner.adapt(t.support_x, t.support_y).predict(grid).mean.detach()
        ax.plot(grid, amp[i, 0] * torch.sin(grid - phase[i, 0]), "k-", label="ground truth")
        ax.plot(grid, pre, "b--", label="pre-adaptation")
        ax.plot(grid, post, "r-", label=f"after {learner.test_inner_steps} step(s)")
        ax.plot(t.support_x, t.support_y, "g^", label=f"{cfg['shots']} support points")
        ax.set_ylim(-5.5, 5.5)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(cfg["preset"])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--method", nargs="+", default=["maml", "metasgd"], choices=sorted(PAPER))
    p.add_argument("--shots", nargs="+", type=int, default=[5, 10, 20], choices=(5, 10, 20))
    p.add_argument("--steps", type=int, default=None, help="meta-iterations (default: the preset's 70,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", default="results")
    a = p.parse_args()
    for method in a.method:
        for k in a.shots:
            name = f"sinusoid-{method}-{k}shot"
            cfg = get_preset(name)
            cfg["seed"] = a.seed
            if a.steps:
                cfg.update(steps=a.steps, val_every=max(1, a.steps // 4), log_every=max(1, a.steps // 20))
                cfg["ckpt_every"] = cfg["log_every"] * 4
            out = Path(a.results) / name
            if out.exists():
                shutil.rmtree(out)
            t = time.time()
            res = train(cfg, out)
            wall = time.time() - t
            learner, _ = load_run(out)
            plot_fits(learner, cfg, out / "fits.png")
            test = {k2: v for k2, v in res.items() if k2 != "config"}
            doc = {
                "command": "python " + " ".join(sys.argv),
                "seed": a.seed,
                "commit": git_commit(),
                "machine": machine(),
                "wall_seconds": wall,
                "preset": name,
                "shots": k,
                "train_steps": cfg["steps"],
                "test_inner_steps": cfg["test_inner_steps"],
                "test": test,
                "mse": test["mse"],
                "ci95": test["ci95"],
                "test_tasks": test["episodes"],
                "paper_mse": PAPER[method][k],
                "paper": "Li et al. 2017, Table 1 (one inner step)",
                "plot": str(out / "fits.png"),
            }
            write_benchmark_record(out, doc)
            print(
                f"{name}: MSE {test['mse']:.3f} +- {test['ci95']:.3f} (paper {PAPER[method][k]}) in {wall:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
