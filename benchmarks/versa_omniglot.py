"""Benchmark: VERSA / ML-PIP (Gordon et al., 2019) on Omniglot (vinyals split, Conv4, 28x28).

Trains one model per shot count on the same 60-way episodes and CPU-budget schedule as the ProtoNet
presets (results/omniglot-versa-5w<k>s/), tests it 5-way and 20-way on 1,000 test episodes with
``versa_eval_samples`` Monte Carlo draws, and writes accuracy with 95% CI, NLL, ECE, reliability diagrams,
the paper's accuracy, and -- when results/omniglot-protonet-<w>w<k>s holds a finished run -- ProtoNet's
accuracy and ECE on the same test episodes (same eval seed) for the calibration comparison.

    python benchmarks/versa_omniglot.py --shots 1                      # CPU budget (preset schedule)
    python benchmarks/versa_omniglot.py --shots 1 --steps 30           # quick check
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
from fastadapt.train.calibration import reliability_diagram
from fastadapt.train.evaluate import collect, summarize
from fastadapt.train.run_log import read_benchmark_record, read_log, write_benchmark_record
from fastadapt.train.trainer import git_commit, hardware, load_run, machine, train

PAPER = {(5, 1): 99.70, (5, 5): 99.75, (20, 1): 97.66, (20, 5): 98.77}  # Gordon et al. 2019, Table 2


def protonet_reference(results: Path, ways: int, shots: int) -> dict | None:
    path = results / f"omniglot-protonet-{ways}w{shots}s"
    try:
        doc = read_benchmark_record(path)
    except FileNotFoundError:
        return None
    test = doc.get("test", doc)
    return {
        "accuracy": test.get("accuracy"),
        "ci95": test.get("ci95"),
        "ece": test.get("ece"),
        "nll": test.get("nll"),
        "train_steps": doc.get("train_steps"),
        "file": str(path),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shots", type=int, choices=(1, 5), required=True)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--lr-decay-every", type=int, default=None)
    p.add_argument("--episodes", type=int, default=None, help="test episodes (default: the preset's 1,000)")
    p.add_argument("--results", default="results")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--eval-only",
        metavar="SUFFIX",
        nargs="?",
        const="",
        help="only (re)test the run folder results/omniglot-versa-5w<K>sSUFFIX trained earlier (e.g. on a GPU)",
    )
    p.add_argument("--minutes", type=float, help="stop training after this wall time (with --steps as the plan)")
    p.add_argument("--tag", default="", help="appended to the run folders' names")
    p.add_argument("--note", default="", help="free text stored in the results (e.g. where the model was trained)")
    a = p.parse_args()
    results = Path(a.results)
    base = f"omniglot-versa-5w{a.shots}s"
    cfg = get_preset(base)
    cfg["seed"] = a.seed
    if a.steps:
        cfg["steps"] = a.steps
        every = max(cfg["log_every"], (a.steps // 3) // cfg["log_every"] * cfg["log_every"])
        cfg.update(val_every=every, ckpt_every=every)
    if a.lr_decay_every:
        cfg["lr_decay_every"] = a.lr_decay_every
    if a.minutes:
        cfg["max_train_seconds"] = 60.0 * a.minutes
    suffix = a.eval_only if a.eval_only is not None else a.tag
    out = results / (base + suffix)
    if a.eval_only is not None:
        cfg = json.loads((out / "config.json").read_text())
        log = read_log(out / "metrics.jsonl")
        res5, wall = {"train_seconds": log[-1]["time"] if log else None}, None
    if a.episodes:
        cfg["eval_episodes"] = a.episodes
    if a.eval_only is None:
        if out.exists():
            shutil.rmtree(out)
        t = time.time()
        res5 = train(cfg, out)
        wall = time.time() - t
    where = "that run's" if a.eval_only is not None else hardware()
    common = {
        "note": a.note,
        "command": "python " + " ".join(sys.argv),
        "seed": a.seed,
        "commit": git_commit(),
        "machine": machine(),
        "wall_seconds": wall,
        "planned_steps": cfg["steps"],
        "train_steps": res5.get("train_steps", cfg["steps"]),
        "train_seconds": res5["train_seconds"],
        "mc_samples": {"train": cfg["versa_samples"], "test": cfg["versa_eval_samples"]},
        "prototype_init": cfg["versa_prototype_init"],
        "eval_only": a.eval_only is not None,
        "trained_commit": cfg.get("commit"),
        "protocol": ("trained earlier, tested here; " if a.eval_only is not None else "")
        + f"{where} budget: {cfg['steps']} episodes of 60-way {a.shots}-shot, 5 queries per class "
        f"(same data and schedule as the ProtoNet presets; the paper trains far longer)",
    }
    for ways in (5, 20):
        name = f"omniglot-versa-{ways}w{a.shots}s"
        d = results / (name + suffix)
        c = dict(cfg, ways=ways, preset=name, commit=cfg.get("commit") or git_commit())
        if ways != 5:  # the same model, its own run folder so `fastadapt eval results/<preset>` reproduces it
            if d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True)
            (d / "config.json").write_text(json.dumps(c, indent=1))
            shutil.copy(out / "best.safetensors", d / "best.safetensors")
        learner, _ = load_run(d)
        sampler = build_sampler(c, "test", ways, a.shots, c["queries"], c["eval_seed"])
        pred, labels, secs = collect(learner, sampler, c["eval_episodes"])
        r = summarize(pred, labels)
        r.update(ways=ways, shots=a.shots, seconds=secs)
        reliability_diagram(pred.probs, labels, d / "reliability.png", title=f"VERSA {ways}w{a.shots}s")
        proto = protonet_reference(results, ways, a.shots)
        doc = {
            **common,
            "preset": name,
            "ways": ways,
            "shots": a.shots,
            "test": r,
            "paper_accuracy": PAPER[(ways, a.shots)],
            "gap_to_paper_points": PAPER[(ways, a.shots)] - 100 * r["accuracy"],
            "protonet_same_episodes": proto,
            "model": f"trained once as {base}; serves both the 5-way and the 20-way preset",
        }
        write_benchmark_record(d, doc)
        ref = f"; ProtoNet {100 * proto['accuracy']:.2f}% ECE {proto['ece']:.4f}" if proto and proto["accuracy"] else ""
        print(
            f"{name}: {100 * r['accuracy']:.2f} +- {100 * r['ci95']:.2f} (paper {PAPER[(ways, a.shots)]}), "
            f"NLL {r['nll']:.4f}, ECE {r['ece']:.4f}{ref}"
        )


if __name__ == "__main__":
    main()
