"""Benchmark: Prototypical Networks on Omniglot (vinyals split, Conv4, 28x28) against Snell et al. (2017).

Trains one model per shot count (60-way training episodes, as in the paper) into results/<preset>/ and
tests it on 1,000 test episodes for every preset it serves (stated in the JSON): the paper protocol tests
each model 5-way and 20-way at its own shot count; the CPU presets also test the 1-shot model 20-way 5-shot.

    python benchmarks/protonet_omniglot.py --shots 1 --steps 3600 --lr-decay-every 1000   # CPU budget
    python benchmarks/protonet_omniglot.py --shots 1 --full                               # paper protocol (GPU)
    python benchmarks/protonet_omniglot.py --shots 1 --eval-only                          # re-test a trained model
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from fastadapt.presets import get_preset
from fastadapt.presets.omniglot_protonet import TRAIN_SHOTS
from fastadapt.tasks import build_sampler
from fastadapt.train.evaluate import evaluate
from fastadapt.train.run_log import read_benchmark_record, write_benchmark_record
from fastadapt.train.trainer import git_commit, load_run, machine, train

PAPER = {(5, 1): 98.8, (5, 5): 99.7, (20, 1): 96.0, (20, 5): 98.9}  # Snell et al. 2017, Table 1


def served(shots: int, full: bool) -> list[tuple[int, int]]:
    """(ways, shots) test settings one model trained with ``shots`` serves: the paper matches training and
    test shots; the CPU presets also test the 1-shot model at 20-way 5-shot (see the presets' docstring)."""
    if full:
        return [(5, shots), (20, shots)]
    return [wk for wk, t in TRAIN_SHOTS.items() if t == shots]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--shots", type=int, choices=(1, 5), required=True)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--lr-decay-every", type=int, default=None)
    p.add_argument("--full", action="store_true", help="paper protocol: 20,000 episodes, lr halved every 2,000")
    p.add_argument(
        "--eval-only",
        action="store_true",
        help="reuse the model already trained into results/<base preset>/ and only (re)test it",
    )
    p.add_argument("--results", default="results")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    base = f"omniglot-protonet-5w{a.shots}s"
    suffix = "-gpu-full" if a.full else ""
    out = Path(a.results) / (base + suffix)
    if a.eval_only:
        trained = read_benchmark_record(out)
        cfg = json.loads((out / "config.json").read_text())
        train_info = {
            k: trained[k]
            for k in (
                "command",
                "seed",
                "commit",
                "machine",
                "wall_seconds",
                "train_steps",
                "train_seconds",
                "protocol",
            )
        }
    else:
        cfg = get_preset(base)
        cfg["seed"] = a.seed
        if a.full:
            cfg.update(steps=20000, lr=1e-3, lr_decay_every=2000, val_every=1000, ckpt_every=1000)
        if a.steps:
            cfg["steps"] = a.steps
        if a.lr_decay_every:
            cfg["lr_decay_every"] = a.lr_decay_every
        if out.exists():
            shutil.rmtree(out)
        t = time.time()
        res = train(cfg, out)
        train_info = {
            "command": "python " + " ".join(sys.argv),
            "seed": a.seed,
            "commit": git_commit(),
            "machine": machine(),
            "wall_seconds": time.time() - t,
            "train_steps": cfg["steps"],
            "train_seconds": res["train_seconds"],
            "protocol": "paper (GPU)"
            if a.full
            else f"CPU budget: {cfg['steps']} episodes of 60-way {a.shots}-shot (paper trains to convergence)",
        }
    settings = served(a.shots, a.full)
    names = [f"omniglot-protonet-{w}w{k}s" for w, k in settings]
    device = cfg["device"] if cfg["device"] != "auto" else "cpu"
    for (w, k), name in zip(settings, names):
        # Each served preset gets its own run folder so `fastadapt eval results/<preset>` reproduces it.
        d = Path(a.results) / (name + suffix)
        c = dict(cfg, ways=w, shots=k, preset=name, commit=train_info["commit"])
        if d != out:
            if d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True)
            (d / "config.json").write_text(json.dumps(c, indent=1))
            shutil.copy(out / "best.safetensors", d / "best.safetensors")
        learner, _ = load_run(d, device=device)
        t = time.time()
        r = evaluate(learner, build_sampler(c, "test", w, k, cfg["queries"], cfg["eval_seed"]), cfg["eval_episodes"])
        r = {key: v for key, v in r.items() if key != "config"}
        doc = {
            **train_info,
            "preset": name,
            "ways": w,
            "shots": k,
            "test": r,
            "paper_accuracy": PAPER[(w, k)],
            "model": f"trained once as {base}{suffix} (60-way {a.shots}-shot); serves "
            + ", ".join(n + suffix for n in names),
        }
        if a.eval_only:
            doc["test_command"] = "python " + " ".join(sys.argv)
            doc["test_commit"] = git_commit()
            doc["test_wall_seconds"] = time.time() - t
        write_benchmark_record(d, doc)
        print(f"{name}{suffix}: {100 * r['accuracy']:.2f} +- {100 * r['ci95']:.2f} (paper {PAPER[(w, k)]})")


if __name__ == "__main__":
    main()
