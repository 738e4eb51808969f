"""Benchmark: Prototypical Networks on Omniglot (vinyals split, Conv4, 28x28) against Snell et al. (2017).

Trains one model per shot count (60-way training episodes, as in the paper) into results/<preset>/ and
tests it 5-way and 20-way on 1,000 test episodes, so one run serves two presets (stated in the JSON).

    python benchmarks/protonet_omniglot.py --shots 1 --steps 3600 --lr-decay-every 1000   # CPU budget
    python benchmarks/protonet_omniglot.py --shots 1 --full                               # paper protocol (GPU)
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from fastadapt.presets import get_preset
from fastadapt.tasks import build_sampler
from fastadapt.train.evaluate import evaluate
from fastadapt.train.trainer import git_commit, load_run, machine, train

PAPER = {(5, 1): 98.8, (5, 5): 99.7, (20, 1): 96.0, (20, 5): 98.9}   # Snell et al. 2017, Table 1


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--shots", type=int, choices=(1, 5), required=True)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--lr-decay-every", type=int, default=None)
    p.add_argument("--full", action="store_true", help="paper protocol: 20,000 episodes, lr halved every 2,000")
    p.add_argument("--results", default="results")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    base = f"omniglot-protonet-5w{a.shots}s"
    cfg = get_preset(base)
    cfg["seed"] = a.seed
    if a.full:
        cfg.update(steps=20000, lr=1e-3, lr_decay_every=2000, val_every=1000, ckpt_every=1000)
    if a.steps:
        cfg["steps"] = a.steps
    if a.lr_decay_every:
        cfg["lr_decay_every"] = a.lr_decay_every
    suffix = "-gpu-full" if a.full else ""
    out = Path(a.results) / (base + suffix)
    if out.exists():
        shutil.rmtree(out)
    t = time.time()
    res5 = train(cfg, out)
    wall = time.time() - t
    # The same model tested 20-way: its own run folder so `fastadapt eval results/<preset>` reproduces it.
    out20 = Path(a.results) / (f"omniglot-protonet-20w{a.shots}s" + suffix)
    if out20.exists():
        shutil.rmtree(out20)
    out20.mkdir(parents=True)
    cfg20 = dict(cfg, ways=20, preset=f"omniglot-protonet-20w{a.shots}s")
    (out20 / "config.json").write_text(json.dumps(cfg20, indent=1))
    shutil.copy(out / "best.safetensors", out20 / "best.safetensors")
    learner, _ = load_run(out20, device=res5["config"]["device"] if res5["config"]["device"] != "auto" else "cpu")
    res20 = evaluate(learner, build_sampler(cfg20, "test", 20, a.shots, cfg["queries"], cfg["eval_seed"]),
                     cfg["eval_episodes"])
    common = {"command": "python " + " ".join(sys.argv), "seed": a.seed, "commit": git_commit(),
              "machine": machine(), "wall_seconds": wall, "train_steps": cfg["steps"],
              "train_seconds": res5["train_seconds"], "protocol": "paper (GPU)" if a.full else
              f"CPU budget: {cfg['steps']} episodes of 60-way {a.shots}-shot (paper trains to convergence)"}
    for d, w, r, c in ((out, 5, res5, cfg), (out20, 20, res20, cfg20)):
        r = {k: v for k, v in r.items() if k != "config"}
        doc = {**common, "preset": c["preset"], "ways": w, "shots": a.shots, "test": r,
               "paper_accuracy": PAPER[(w, a.shots)],
               "model": f"trained once as {base}{suffix}; serves both the 5-way and the 20-way preset"}
        (d / "results.json").write_text(json.dumps(doc, indent=1))
        print(f"{c['preset']}{suffix}: {100 * r['accuracy']:.2f} +- {100 * r['ci95']:.2f} (paper {PAPER[(w, a.shots)]})")


if __name__ == "__main__":
    main()
