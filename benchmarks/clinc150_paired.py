"""Paired comparison on CLINC150's unseen domains: each trained learner against the frozen-encoder ProtoNet on
the *same* 600 test episodes (same seed, same utterances), as the mean per-episode accuracy difference with a
95% CI. Pairing removes the episode-to-episode spread that the two separate CIs of `clinc150.py` both carry,
so it says whether a small lead (e.g. at 5-way 5-shot, where every learner is near 99%) is real.

    python benchmarks/clinc150_paired.py --runs icl-finetune,finetune,icl:-rotate-concat
    python benchmarks/clinc150_paired.py --runs icl-finetune@15w5s,finetune@15w5s --settings 5w5s

Each run is read from ``results/<preset><suffix>`` as `benchmarks/clinc150.py` wrote it (checkpoint included);
a missing one is skipped and named. Adds its entries to ``results/clinc150-paired.json`` (each entry names
the command and commit that produced it; the episodes are the presets' eval_seed ones, the same for every run).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from clinc150 import PRESETS, setting, test_view, write_summary

from fastadapt.train.evaluate import ci95, collect
from fastadapt.train.ood import oos_auroc
from fastadapt.train.trainer import git_commit, load_run


def episode_accuracy(
    folder: Path, episodes: int, ways: int, shots: int, auroc: bool = False
) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """Per-episode test accuracy ``[episodes]`` of the run in ``folder`` on ``ways``-way ``shots``-shot test
    episodes, the query labels it was scored on, and (``auroc``) its out-of-scope AUROC on those episodes."""
    learner, cfg = load_run(folder)
    with test_view(learner, cfg, ways, shots) as (tested, sampler):
        pred, y, _ = collect(tested, sampler, episodes)
        ood = oos_auroc(tested, sampler, episodes) if auroc else {}
    return (pred.logits.argmax(-1) == y).double().mean(-1), y, ood


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--runs",
        default="icl-finetune,finetune",
        help="learner[:suffix][@setting] names, as in clinc150.py; @15w5s tests the run trained at "
        "15w5s on each setting's episodes (training on more ways than tested, as Snell 2017 do) and "
        "adds its OOS AUROC there",
    )
    p.add_argument("--settings", default="5w1s,5w5s,15w5s")
    p.add_argument("--episodes", type=int, default=600)
    p.add_argument("--results", default="results")
    a = p.parse_args()
    root, out = Path(a.results), {}
    for st in a.settings.split(","):
        ways, shots = setting(st)
        base, base_y, _ = episode_accuracy(root / PRESETS["frozen"].replace("5w1s", st), a.episodes, ways, shots)
        for run in a.runs.split(","):
            run, _, trained_at = run.partition("@")
            name, _, suffix = run.partition(":")
            folder = root / (PRESETS[name].replace("5w1s", trained_at or st) + suffix)
            key = folder.name + (f"@{st}" if trained_at and trained_at != st else "")
            if not (folder / "best.safetensors").exists():
                print(f"skipped {folder}: no checkpoint (run benchmarks/clinc150.py for it first)", flush=True)
                continue
            t1 = time.time()
            acc, y, ood = episode_accuracy(folder, a.episodes, ways, shots, auroc=bool(trained_at))
            if not torch.equal(y, base_y):
                raise RuntimeError(
                    f"{folder} was tested on other episodes than the frozen ProtoNet: check that "
                    f"both runs use the same eval_seed."
                )
            diff = 100 * (acc - base)
            out[key] = {
                "accuracy": float(100 * acc.mean()),
                "accuracy_ci95": ci95(100 * acc),
                "frozen_protonet_accuracy": float(100 * base.mean()),
                "difference_points": float(diff.mean()),
                "difference_ci95": ci95(diff),
                "episodes_better": int((diff > 0).sum()),
                "episodes_worse": int((diff < 0).sum()),
                **ood,
                "episodes": a.episodes,
                "command": "python " + " ".join(sys.argv),
                "commit": git_commit(),
                "wall_seconds": time.time() - t1,
            }
            r = out[key]
            print(
                f"{key}: {r['accuracy']:.2f} vs frozen ProtoNet {r['frozen_protonet_accuracy']:.2f}: "
                f"{r['difference_points']:+.2f} +- {r['difference_ci95']:.2f} points (paired, {a.episodes} "
                f"episodes; better in {r['episodes_better']}, worse in {r['episodes_worse']})",
                flush=True,
            )
    write_summary(root / "clinc150-paired.json", out)


if __name__ == "__main__":
    main()
