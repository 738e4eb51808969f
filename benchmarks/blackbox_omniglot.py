"""Benchmark: black-box meta-learners on Omniglot 1-shot (vinyals split, Conv4, 28x28): the Deep-Sets
hypernetwork (Ha 2017; Zhmoginov 2022) and the LSTM learner (Hochreiter 2001), against ProtoNet
(Snell 2017) trained with the *same* budget (episodes, ways, queries, meta-batch, learning-rate schedule),
plus adaptation latency per task next to MAML's (Finn 2017).

Goal (issue 6): each within 1 point of ProtoNet at the same budget; adaptation latency at least 10x
lower than MAML's. Reference numbers from the papers, for context only (other budgets):
ProtoNet 98.8 (5w1s) / 96.0 (20w1s) (Snell 2017, Table 1); MAML 98.7 / 95.8 (Finn 2017, Table 1).

For the LSTM learner the support order effect is measured: test accuracy when reading the support
sorted by label (the sampler's order), reversed, and shuffled; with --order-ablation a second LSTM
learner is trained without support shuffling and tested the same way.

    python benchmarks/blackbox_omniglot.py --ways 5                 # preset budgets (3,000 episodes each)
    python benchmarks/blackbox_omniglot.py --ways 20 --order-ablation
    python benchmarks/blackbox_omniglot.py --ways 5 --steps 10 --episodes 20 --results /tmp/r   # smoke test
    python benchmarks/blackbox_omniglot.py --ways 5 --steps 1000 --learners lstm --set lstm_binding=concat \
        --tag=-concat               # one learner, a variant: results/blackbox-omniglot-5w1s-concat.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from fastadapt.configs import build_learner
from fastadapt.learners import METHODS
from fastadapt.presets import PRESETS, apply_overrides, get_preset
from fastadapt.tasks import build_sampler
from fastadapt.tasks.sequence import permute_support
from fastadapt.train.evaluate import adaptation_latency_ms, evaluate
from fastadapt.train.trainer import git_commit, load_run, machine, train

PAPER = {"protonet": {5: 98.8, 20: 96.0}, "maml": {5: 98.7, 20: 95.8}}


class Reordered:
    """A sampler whose episodes read their support set in a given order (see `permute_support`)."""

    def __init__(self, base, order: str) -> None:
        self.base, self.order = base, order
        self.ways, self.shots, self.queries = base.ways, base.shots, base.queries

    def batch(self, index: int, batch_size: int = 1):
        return permute_support(self.base.batch(index, batch_size), self.order, torch.Generator().manual_seed(index))


def shrink(cfg: dict[str, Any], steps: int | None, episodes: int | None) -> dict[str, Any]:
    if steps:
        log = min(cfg["log_every"], steps)
        cfg.update(
            steps=steps,
            log_every=log,
            val_every=min(cfg["val_every"], steps),
            ckpt_every=log * max(1, min(cfg["ckpt_every"], steps) // log),
        )
    if episodes:
        cfg.update(eval_episodes=episodes, val_episodes=min(cfg["val_episodes"], episodes))
    return cfg


def run(cfg: dict[str, Any], out: Path) -> tuple[dict[str, Any], Any]:
    if out.exists():
        shutil.rmtree(out)
    res = train(cfg, out)
    learner, _ = load_run(out)
    return {
        k: v
        for k, v in res.items()
        if k in ("accuracy", "ci95", "nll", "ece", "episodes", "train_seconds", "train_steps")
    }, learner


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ways", type=int, choices=(5, 20), default=5)
    p.add_argument("--steps", type=int, help="training episodes per model (default: the presets')")
    p.add_argument("--episodes", type=int, help="test episodes (default: the presets', 1,000)")
    p.add_argument("--latency-tasks", type=int, default=50)
    p.add_argument("--order-ablation", action="store_true", help="also train an LSTM learner without shuffling")
    p.add_argument("--learners", default="hypernet,lstm,protonet", help="which learners to train (comma list)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a preset value of every chosen learner whose preset has that key",
    )
    p.add_argument("--tag", default="", help="appended to the results file's and run folders' names")
    p.add_argument("--results", default="results")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    chosen = a.learners.split(",")
    unknown = set(chosen) - {"hypernet", "lstm", "protonet"}
    if unknown:
        p.error(f"unknown learners {sorted(unknown)}; choose from hypernet, lstm, protonet.")
    t0 = time.time()
    root = Path(a.results)
    models: dict[str, dict[str, Any]] = {}
    learners = {}
    base = shrink(get_preset(f"omniglot-hypernet-{a.ways}w1s"), a.steps, a.episodes)
    budget = {
        k: base[k]
        for k in (
            "steps",
            "train_ways",
            "train_shots",
            "train_queries",
            "meta_batch",
            "lr",
            "lr_decay_every",
            "lr_decay",
            "seed",
        )
    }
    runs = {name: get_preset(f"omniglot-{name}-{a.ways}w1s") for name in chosen}
    for pair in a.set:
        owners = [name for name, cfg in runs.items() if pair.split("=", 1)[0] in cfg]
        if not owners:
            p.error(f"--set {pair}: no chosen learner's preset has that key.")
        for name in owners:
            runs[name] = apply_overrides(runs[name], [pair])
    if a.order_ablation and "lstm" in runs:
        runs["lstm-noshuffle"] = dict(runs["lstm"], lstm_shuffle=False, preset=f"omniglot-lstm-{a.ways}w1s-noshuffle")
    for name, cfg in runs.items():
        cfg = shrink(dict(cfg, seed=a.seed), a.steps, a.episodes)
        cfg.update({k: v for k, v in budget.items() if k != "seed"}, seed=a.seed)
        models[name], learners[name] = run(cfg, root / f"blackbox-{cfg['preset']}{a.tag}")
        test = build_sampler(cfg, "test", a.ways, 1, cfg["queries"], cfg["eval_seed"])
        models[name]["adaptation_latency"] = adaptation_latency_ms(learners[name], test, a.latency_tasks)
        if name.startswith("lstm"):
            models[name]["support_order"] = {
                order: {
                    k: v
                    for k, v in evaluate(learners[name], Reordered(test, order), cfg["eval_episodes"]).items()
                    if k in ("accuracy", "ci95")
                }
                for order in ("sorted", "reversed", "shuffled")
            }
        print(
            f"{name}: {100 * models[name]['accuracy']:.2f} +- {100 * models[name]['ci95']:.2f}%, "
            f"adapt {models[name]['adaptation_latency']['adapt_ms']:.2f} ms/task",
            flush=True,
        )
    # MAML's adaptation latency (5 inner steps as in its preset); untrained weights time the same.
    maml = None
    if "maml" in METHODS and f"omniglot-maml-{a.ways}w1s" in PRESETS:
        mcfg = get_preset(f"omniglot-maml-{a.ways}w1s")
        torch.manual_seed(a.seed)
        maml = adaptation_latency_ms(
            build_learner(mcfg),
            build_sampler(mcfg, "test", a.ways, 1, mcfg["queries"], mcfg["eval_seed"]),
            a.latency_tasks,
        )
    proto = models["protonet"]["accuracy"] if "protonet" in models else None
    gaps = {name: None if proto is None else 100 * (m["accuracy"] - proto) for name, m in models.items()}
    summary = {
        name: {
            "gap_to_protonet_points": gaps[name],
            "within_1_point": None if proto is None else gaps[name] >= -1.0,
            "latency_vs_maml": (maml["adapt_ms"] / m["adaptation_latency"]["adapt_ms"]) if maml else None,
        }
        for name, m in models.items()
        if name != "protonet"
    }
    doc = {
        "command": "python " + " ".join(sys.argv),
        "seed": a.seed,
        "commit": git_commit(),
        "machine": machine(),
        "wall_seconds": time.time() - t0,
        "ways": a.ways,
        "shots": 1,
        "budget": budget,
        "overrides": a.set,
        "models": models,
        "maml_adaptation_latency": maml,
        "summary": summary,
        "paper_accuracy_pct": {k: v[a.ways] for k, v in PAPER.items()},
        "paper": "Snell et al. 2017 Table 1 (ProtoNet), Finn et al. 2017 Table 1 (MAML); other budgets.",
    }
    out = root / f"blackbox-omniglot-{a.ways}w1s{a.tag}.json"
    root.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    for name, s in summary.items():
        ratio = f"{s['latency_vs_maml']:.1f}x faster than MAML" if s["latency_vs_maml"] else "MAML not available"
        gap = "ProtoNet not trained here" if proto is None else f"{s['gap_to_protonet_points']:+.2f} points vs ProtoNet"
        print(f"{name}: {gap}; adaptation {ratio}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
