"""Benchmark: Siamese, Matching and Relation networks on Omniglot (vinyals split, 28x28) against the papers.

Trains one model per method and shot count (20-way training episodes) into results/omniglot-<method>-5w<K>s/
within a CPU time budget (30 minutes by default: a short probe measures the step time and sets the number of
steps), then tests it 5-way and 20-way on 1,000 test episodes each, under both protocols: standard (classes
drawn from all test alphabets) and within-alphabet (Lake 2015: every episode from one alphabet). Reports
accuracy with 95% CI, NLL, ECE (15 bins) and Brier, writes a reliability diagram per setting, and, for the
Siamese network, the same/different verification accuracy on test pairs. The 20-way numbers go to their own
run folder (a copy of the model) so `fastadapt eval results/<preset>` reproduces them.

    python benchmarks/metric_omniglot.py --method relation --shots 1                  # 30-min CPU budget
    python benchmarks/metric_omniglot.py --method matching --shots 5 --budget-min 10
    python benchmarks/metric_omniglot.py --method siamese --shots 1 --steps 20 --episodes 20   # smoke test
    python benchmarks/metric_omniglot.py --method relation --shots 1 --full           # long schedule (GPU)
    python benchmarks/metric_omniglot.py --method siamese --shots 1 --eval-only=-gpu4min   # re-test trained folders
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from fastadapt.presets import get_preset
from fastadapt.tasks import build_sampler
from fastadapt.train.budget import steps_for_budget
from fastadapt.train.calibration import reliability_diagram
from fastadapt.train.evaluate import collect, summarize
from fastadapt.train.run_log import read_log, write_benchmark_record
from fastadapt.train.trainer import git_commit, hardware, load_run, machine, resolve_device, train

# Omniglot test accuracy (%), 5w1s / 5w5s / 20w1s / 20w5s.
PAPER = {
    "matching": ({(5, 1): 98.1, (5, 5): 98.9, (20, 1): 93.8, (20, 5): 98.5}, "Vinyals et al. 2016, Table 1"),
    "relation": ({(5, 1): 99.6, (5, 5): 99.8, (20, 1): 97.6, (20, 5): 99.1}, "Sung et al. 2018, Table 1"),
    "siamese": (
        {(5, 1): 97.3, (5, 5): 98.4, (20, 1): 88.2, (20, 5): 97.0},
        "Koch et al. 2015, as re-reported by Vinyals et al. 2016, Table 1",
    ),
}
FULL = {"steps": 40000, "lr_decay_every": 10000, "val_every": 2000, "ckpt_every": 1000}


def test_all(run5: Path, run20: Path, cfg: dict[str, Any], episodes: int, device: torch.device) -> dict:
    """Both ways x both protocols; diagrams into the run folders; Siamese verification accuracy."""
    learner, _ = load_run(run5, device=device)
    out: dict[tuple[int, str], dict[str, Any]] = {}
    for ways, folder in ((5, run5), (20, run20)):
        for protocol in ("standard", "within_alphabet"):
            sampler = build_sampler(
                cfg,
                "test",
                ways,
                cfg["shots"],
                cfg["queries"],
                cfg["eval_seed"],
                within_group=protocol == "within_alphabet",
            )
            pred, labels, secs = collect(learner, sampler, episodes, device=device)
            res = summarize(pred, labels)
            res.update(seconds=secs, episodes_per_second=episodes / secs)
            reliability_diagram(
                pred.probs,
                labels,
                folder / f"reliability_{protocol}.png",
                title=f"{cfg['method']} {ways}w{cfg['shots']}s {protocol}",
            )
            out[(ways, protocol)] = res
    if cfg["method"] == "siamese":
        from fastadapt.learners.siamese import verification_accuracy

        for ways in (5, 20):
            sampler = build_sampler(cfg, "test", ways, cfg["shots"], cfg["queries"], cfg["eval_seed"])
            out[(ways, "standard")]["verification"] = verification_accuracy(learner, sampler, episodes)
    return out


def trained_run(out: Path) -> tuple[dict[str, Any], dict[str, Any], float | None, str, int]:
    """Configuration, training time, protocol and steps actually trained (the last logged step; fewer than
    planned if the run was cut short) of a run folder trained earlier (for ``--eval-only``)."""
    cfg = json.loads((out / "config.json").read_text())
    log = read_log(out / "metrics.jsonl")
    seconds, done = (log[-1]["time"], log[-1]["step"]) if log else (None, 0)
    return (
        cfg,
        {"train_seconds": seconds},
        seconds,
        (f"trained earlier: {done} of {cfg['steps']} planned steps, then tested here"),
        done,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--method", choices=sorted(PAPER), required=True)
    p.add_argument("--shots", type=int, choices=(1, 5), required=True)
    p.add_argument("--budget-min", type=float, default=30.0, help="training time budget on this machine")
    p.add_argument("--steps", type=int, help="train exactly this many steps (no budget probe)")
    p.add_argument("--full", action="store_true", help=f"long schedule for a GPU: {FULL}")
    p.add_argument("--episodes", type=int, default=1000, help="test episodes per setting and protocol")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset value")
    p.add_argument("--results", default="results")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--eval-only",
        metavar="SUFFIX",
        nargs="?",
        const="",
        help="only (re)test the run folders results/<preset>SUFFIX trained earlier (elsewhere, e.g. on a GPU)",
    )
    p.add_argument("--note", default="", help="free text stored in the results (e.g. where the model was trained)")
    p.add_argument("--tag", default="", help="appended to the run folders' names (variants trained with --set)")
    a = p.parse_args()
    from fastadapt.presets import apply_overrides

    base5, base20 = (f"omniglot-{a.method}-{w}w{a.shots}s" for w in (5, 20))
    cfg = apply_overrides(get_preset(base5), a.set)
    cfg.update(seed=a.seed, eval_episodes=a.episodes, val_episodes=min(cfg["val_episodes"], a.episodes))
    step_s, protocol = None, ""
    if a.eval_only is not None:
        pass  # configuration and protocol come from the trained run folder
    elif a.full:
        cfg.update(FULL)
        protocol = f"long schedule: {FULL['steps']} episodes (GPU)"
    elif a.steps:
        cfg.update(steps=a.steps, lr_decay_every=max(a.steps // 3, 1))
        protocol = f"fixed {a.steps} steps"
    else:
        cfg["steps"], step_s = steps_for_budget(
            cfg, 60 * a.budget_min, fraction=0.88, multiple=cfg["log_every"], minimum=cfg["log_every"]
        )
        cfg["lr_decay_every"] = max(cfg["steps"] // 3, 1)
        cfg["max_train_seconds"] = 60.0 * a.budget_min  # the clock holds the budget where the probe is off
        protocol = (
            f"{hardware()} budget {a.budget_min:g} min: {cfg['steps']} steps at {step_s:.3f} s/step measured, "
            f"stopped by the clock at {a.budget_min:g} min if slower (the papers train to convergence)"
        )
    cfg["val_every"] = min(cfg["val_every"], cfg["steps"])
    if a.eval_only is not None:
        suffix = a.eval_only
    else:
        suffix = "-gpu-full" if a.full else (f"-gpu{a.budget_min:g}min" if hardware() == "GPU" and not a.steps else "")
        suffix += a.tag
    out5, out20 = Path(a.results) / (base5 + suffix), Path(a.results) / (base20 + suffix)
    if a.eval_only is not None:
        cfg, res, train_wall, protocol, trained_steps = trained_run(out5)
    else:
        for d in (out5, out20):
            if d.exists():
                shutil.rmtree(d)
        t = time.time()
        res = train(cfg, out5)
        train_wall, trained_steps = time.time() - t, res["train_steps"]
    out20.mkdir(parents=True, exist_ok=True)
    cfg20 = dict(copy.deepcopy(cfg), ways=20, preset=base20, commit=cfg.get("commit") or git_commit())
    (out20 / "config.json").write_text(json.dumps(cfg20, indent=1))
    shutil.copy(out5 / "best.safetensors", out20 / "best.safetensors")
    t = time.time()
    tests = test_all(out5, out20, cfg, a.episodes, resolve_device(cfg["device"]))
    test_wall = time.time() - t
    paper, source = PAPER[a.method]
    common = {
        "command": "python " + " ".join(sys.argv),
        "seed": a.seed,
        "commit": git_commit(),
        "machine": machine(),
        "train_wall_seconds": train_wall,
        "test_wall_seconds": test_wall,
        "train_steps": trained_steps,
        "planned_steps": cfg["steps"],
        "train_seconds": res["train_seconds"],
        "probe_step_seconds": step_s,
        "protocol": protocol,
        "test_episodes": a.episodes,
        "paper_source": source,
        "note": a.note,
        "overrides": a.set,
        "eval_only": a.eval_only is not None,
        "trained_commit": cfg.get("commit"),
        "model": f"trained once as {base5}{suffix} (20-way training episodes); serves the 5-way and 20-way preset",
    }
    for d, w, c in ((out5, 5, cfg), (out20, 20, cfg20)):
        doc = {
            **common,
            "preset": c["preset"],
            "ways": w,
            "shots": a.shots,
            "paper_accuracy": paper[(w, a.shots)],
            "accuracy": 100 * tests[(w, "standard")]["accuracy"],
            "gap_to_paper": 100 * tests[(w, "standard")]["accuracy"] - paper[(w, a.shots)],
            "test": {proto: tests[(w, proto)] for proto in ("standard", "within_alphabet")},
        }
        write_benchmark_record(d, doc)
        for proto in ("standard", "within_alphabet"):
            r = tests[(w, proto)]
            extra = (
                f", verification {100 * r['verification']['verification_accuracy']:.2f}%" if "verification" in r else ""
            )
            print(
                f"{c['preset']}{suffix} [{proto}]: {100 * r['accuracy']:.2f} +- {100 * r['ci95']:.2f}% "
                f"(paper {paper[(w, a.shots)]}), ECE {r['ece']:.4f}, NLL {r['nll']:.3f}{extra}"
            )
    print(f"trained {trained_steps} steps in {(train_wall or 0) / 60:.1f} min; tested in {test_wall / 60:.1f} min")


if __name__ == "__main__":
    main()
