"""Benchmark: cross-domain few-shot flowers (89 Flowers-102 classes, 84x84) with the frozen ImageNet EfficientNet-Lite0
(Tan & Le 2019) and no meta-training: which head on its features classifies new flower species from 1 or 5 photos.

The encoder is frozen, so every image is embedded once (`fastadapt.nn.episodic.embed_dataset`, 84x84 upsampled to
224, optionally averaged with its mirror image) and the 5-way episodes (15 queries, 600 per setting, seed 2017) are
drawn from the features. Heads: cosine prototypes (the floor the issue measured), the power transform of Hu et al.
(2021) before them, mirror-image averaging, and logistic regression (RFS, Tian 2020) on the same features.

    python benchmarks/flowers_efficientnet.py [--episodes 600] [--precision bf16]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from fastadapt.learners.baseline import fit_logistic, normalize_features
from fastadapt.learners.protonet import class_means, power_transform
from fastadapt.nn.efficientnet import EfficientNetLite0
from fastadapt.nn.episodic import embed_dataset
from fastadapt.tasks.image_sets import load_image_set
from fastadapt.tasks.sampler import EpisodeSampler
from fastadapt.train.evaluate import ci95
from fastadapt.train.trainer import provenance

ISSUE_FLOOR = {1: 76.7, 5: 91.1}  # the issue's throwaway measurement (600 episodes of 12 images a class)
SELECT_SEED, TEST_SEED = 1, 2017  # probes choose variants on seed-1 episodes, then report them on the recipe's (2017)


def select_and_test(accuracy: Callable[[int], torch.Tensor]) -> dict[str, float]:
    """Mean and 95% interval (percent) of the per-episode ``accuracy(seed)`` on the selection and the test episodes."""
    row = {}
    for part, seed in (("select", SELECT_SEED), ("test", TEST_SEED)):
        acc = accuracy(seed)
        row[part], row[f"{part}_ci95"] = round(100 * acc.mean().item(), 3), round(100 * ci95(acc), 3)
    return row


def chosen_per_shot(rows: list[dict], is_recipe: Callable[[dict], bool]) -> dict[str, dict]:
    """Per shot count, the row best on the selection episodes beside the recipe's row."""
    chosen = {}
    for shots in (1, 5):
        best = max((r for r in rows if r["shots"] == shots), key=lambda r: r["select"])
        recipe = next(r for r in rows if r["shots"] == shots and is_recipe(r))
        chosen[f"5w{shots}s"] = {"chosen_on_seed_1": best, "recipe": recipe}
    return chosen


def head_accuracy(
    z: torch.Tensor, y: torch.Tensor, ways: int, shots: int, episodes: int, head: str, transform: str, seed: int = 2017
) -> torch.Tensor:
    """Per-episode accuracy of ``head`` ("prototype" or "logistic") on features ``z`` after ``transform``, on the
    episodes of ``seed`` (15 queries)."""
    if transform == "power":
        z = power_transform(z)
    s = EpisodeSampler(z, y, ways, shots, 15, seed=seed)
    accs = []
    for lo in range(0, episodes, 100):
        b = s.batch(lo // 100, min(100, episodes - lo))
        zs, zq = normalize_features(b.support_x), normalize_features(b.query_x)
        accs.append(query_accuracy(zs, b.support_y, zq, b.query_y, ways, head))
    return torch.cat(accs)


def query_accuracy(
    zs: torch.Tensor, sy: torch.Tensor, zq: torch.Tensor, qy: torch.Tensor, ways: int, head: str
) -> torch.Tensor:
    """Per-episode query accuracy ``[B]`` of ``head`` fitted on normalized support features ``zs [B, S, D]``:
    logistic regression (RFS) or cosine prototypes (scale 10)."""
    if head == "logistic":
        w, bias = fit_logistic(zs, sy, ways)
    else:
        w, bias = 10 * F.normalize(class_means(zs, sy, ways), dim=-1), torch.zeros(len(zs), ways)
    logits = zq @ w.transpose(-1, -2) + bias.unsqueeze(-2)
    return (logits.argmax(-1) == qy).float().mean(-1)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--episodes", type=int, default=600)
    p.add_argument("--precision", default="bf16", choices=("fp32", "bf16"))
    p.add_argument("--out", default="results/flowers_efficientnet_heads.json")
    a = p.parse_args()
    start = time.time()
    data = load_image_set("flowers102-partial", "test")
    enc = EfficientNetLite0()
    t = time.time()
    feats = {"plain": embed_dataset(enc, data.x, precision=a.precision)}
    embed_seconds = time.time() - t
    feats["flip"] = (feats["plain"] + embed_dataset(enc, data.x.flip(-1), precision=a.precision)) / 2
    rows = []
    for shots in (1, 5):
        for view, head, transform in (
            ("plain", "prototype", "none"),
            ("plain", "prototype", "power"),
            ("flip", "prototype", "power"),
            ("plain", "logistic", "power"),
            ("flip", "logistic", "power"),
        ):
            acc = head_accuracy(feats[view], data.y, 5, shots, a.episodes, head, transform)
            rows.append(
                {
                    "shots": shots,
                    "view": view,
                    "head": head,
                    "transform": transform,
                    "accuracy": round(100 * float(acc.mean()), 2),
                    "ci95": round(100 * ci95(acc), 2),
                }
            )
            print(rows[-1], flush=True)
    out = {
        "benchmark": "flowers102-partial 5-way, frozen EfficientNet-Lite0 (ImageNet), no meta-training",
        "command": f"python benchmarks/flowers_efficientnet.py --episodes {a.episodes} --precision {a.precision}",
        "episodes": a.episodes,
        "queries": 15,
        "eval_seed": 2017,
        "precision": a.precision,
        "issue_floor": ISSUE_FLOOR,
        "rows": rows,
        "embed_seconds_5543_images": round(embed_seconds, 1),
        **provenance(start),
    }
    Path(a.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
