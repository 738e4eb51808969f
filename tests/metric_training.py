"""A short real Omniglot meta-training shared by the metric-family slow tests (not a test module)."""

from __future__ import annotations

import time

import torch

from fastadapt.configs import build_learner
from fastadapt.presets import DEFAULTS
from fastadapt.tasks import build_sampler
from fastadapt.train.evaluate import evaluate

# Short schedules for > 85% 5-way 1-shot on the vinyals test classes. Measured on one busy thread (CPU s):
# Matching 200 steps 91.1% (59 s); Relation 800 steps 89.8% (135 s), 600 steps 84.8%;
# Siamese at lr 1e-3 500 steps 82.5% (124 s), at lr 3e-3 300 steps 82.0% (76 s).
SHORT = {
    "matching": dict(train_ways=20, train_shots=1, train_queries=5, steps=200, lr=1e-3),
    "siamese": dict(train_ways=20, train_shots=1, train_queries=5, steps=500, lr=3e-3, siamese_pairs=5),
    "relation": dict(train_ways=5, train_shots=1, train_queries=15, steps=800, lr=1e-3),
}


def short_training(method: str, data_root, episodes: int = 100, **overrides) -> float:
    """Meta-train ``method`` briefly on the training classes; 5-way 1-shot accuracy on test episodes. Runs
    on one thread: multi-threaded float sums differ in the last bits, and over hundreds of steps that moves
    the accuracy by points, so the asserted numbers would depend on the machine's core count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _short_training(method, data_root, episodes, **overrides)
    finally:
        torch.set_num_threads(threads)


def _short_training(method: str, data_root, episodes: int, **overrides) -> float:
    cfg = {**DEFAULTS, **SHORT[method], "method": method, "data_root": str(data_root), **overrides}
    torch.manual_seed(0)
    learner = build_learner(cfg).train()
    sampler = build_sampler(cfg, "train", cfg["train_ways"], cfg["train_shots"], cfg["train_queries"], 0)
    opt = torch.optim.Adam(learner.parameters(), lr=cfg["lr"])
    start = time.process_time()
    for step in range(cfg["steps"]):
        loss, _ = learner.meta_loss(sampler.batch(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
    res = evaluate(learner, build_sampler(cfg, "test", 5, 1, 15, 2017), episodes)
    print(
        f"{method}: {cfg['steps']} steps in {time.process_time() - start:.1f} s CPU, "
        f"5-way 1-shot test accuracy {100 * res['accuracy']:.1f} +- {100 * res['ci95']:.1f}%"
    )
    return res["accuracy"]
