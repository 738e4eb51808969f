"""Every classification learner meta-trains on real mini-ImageNet colour images (84x84) and learns: 5-way 5-shot
accuracy on held-out classes well above chance (20%) after a short training on the 16 validation classes."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

from fastadapt.learners import build_learner
from fastadapt.presets import get_preset
from fastadapt.tasks.image_sets import load_image_set
from fastadapt.tasks.sampler import EpisodeSampler
from fastadapt.train.evaluate import evaluate

SHARED = Path(os.environ.get("FASTADAPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (SHARED / "mini-imagenet" / "mini-imagenet.zip").exists(),
                                                    reason="no mini-ImageNet archive")]
# method -> (steps, lr); short schedules measured to clear the bar below on 2 busy cores
SHORT = {"protonet": (60, 1e-3), "matching": (60, 1e-3), "relation": (80, 1e-3), "siamese": (60, 1e-3),
         "versa": (60, 1e-3), "fomaml": (40, 1e-3), "anil": (40, 1e-3), "metasgd": (40, 1e-3),
         "reptile": (40, 1e-3), "hypernet": (80, 1e-3), "lstm": (80, 1e-3), "icl": (80, 1e-3),
         "baseline": (60, 1e-3)}


@pytest.fixture(scope="module")
def mini():
    return (load_image_set("mini-imagenet", "val", root=SHARED, progress=False),
            load_image_set("mini-imagenet", "test", root=SHARED, progress=False))


@pytest.mark.parametrize("method", sorted(SHORT))
def test_learner_learns_on_mini_imagenet(method, mini):
    val, test = mini
    steps, lr = SHORT[method]
    cfg = {**get_preset(f"mini-imagenet-{method}-5w5s"), "meta_batch": 1}
    if method == "baseline":
        cfg["train_ways"] = cfg["baseline_classes"] = len(val.class_names)
    torch.manual_seed(0)
    learner = build_learner(cfg).train()
    if method == "baseline":
        train_s = EpisodeSampler(val.x, val.y, len(val.class_names), 1, 3, seed=0)
        train_s.use_class_ids()
    else:
        train_s = EpisodeSampler(val.x, val.y, 5, 5, 5, seed=0)
    opt = torch.optim.Adam(learner.param_groups(), lr=lr)
    start = time.perf_counter()
    for step in range(steps):
        loss, _ = learner.meta_loss(train_s.batch(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
    res = evaluate(learner, EpisodeSampler(test.x, test.y, 5, 5, 10, seed=2017), 100, batch_size=10)
    print(f"{method}: {steps} steps in {time.perf_counter() - start:.1f} s, 5-way 5-shot test accuracy "
          f"{100 * res['accuracy']:.1f} +- {100 * res['ci95']:.1f}%")
    assert res["accuracy"] > 0.30                # chance is 0.20; +-0.03 is the interval over 100 episodes
