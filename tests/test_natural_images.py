"""Every classification learner meta-trains on real mini-ImageNet colour images and learns: 5-way 5-shot accuracy on
held-out classes well above chance (20%) after a short training on the 16 validation classes. Images are shrunk from
84x84 to 42x42 to fit CI's time (the presets' shape arithmetic then runs at another size too)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fastadapt.configs import build_learner
from fastadapt.presets import get_preset
from fastadapt.tasks.image_sets import load_image_set
from fastadapt.tasks.sampler import EpisodeSampler
from fastadapt.train.evaluate import evaluate

SHARED = Path(os.environ.get("FASTADAPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (SHARED / "mini-imagenet" / "mini-imagenet.zip").exists(), reason="no mini-ImageNet archive"
    ),
]
# method -> (steps, lr, overrides): short schedules to clear the bar below on 2 busy cores; the gradient learners get
# a larger inner learning rate than Finn's 0.01 (the presets' value) so a few dozen meta-steps suffice
FAST_INNER = {"inner_lr": 0.1, "inner_steps": 2, "test_inner_steps": 5}
SHORT = {
    "protonet": (60, 1e-3, {}),
    "matching": (60, 1e-3, {}),
    "relation": (80, 1e-3, {}),
    "siamese": (60, 1e-3, {}),
    "versa": (60, 1e-3, {}),
    "fomaml": (60, 1e-3, FAST_INNER),
    "anil": (60, 1e-3, FAST_INNER),
    "metasgd": (60, 1e-3, FAST_INNER),
    "reptile": (40, 1e-3, {"inner_steps": 3, "test_inner_steps": 5}),
    "hypernet": (80, 1e-3, {}),
    "icl": (80, 1e-3, {}),
    "baseline": (60, 1e-3, {}),
    "lstm": (400, 1e-3, {}),  # its recurrent part at 0.1x the rate (lr_scale), as the trainer applies it
}


SIZE = 42


def shrink(x: torch.Tensor) -> torch.Tensor:
    out = F.interpolate(x.float(), size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="module")
def mini():
    val = load_image_set("mini-imagenet", "val", root=SHARED, progress=False)
    test = load_image_set("mini-imagenet", "test", root=SHARED, progress=False)
    keep = torch.cat([torch.nonzero(test.y == c).flatten()[:60] for c in range(len(test.class_names))])
    return (shrink(val.x), val.y, len(val.class_names)), (shrink(test.x[keep]), test.y[keep])


@pytest.mark.parametrize("method", sorted(SHORT))
def test_learner_learns_on_mini_imagenet(method, mini):
    (vx, vy, n_val), (tx, ty) = mini
    steps, lr, overrides = SHORT[method]
    cfg = {**get_preset(f"mini-imagenet-{method}-5w5s"), "meta_batch": 1, "image_size": SIZE, **overrides}
    if method == "baseline":
        cfg["train_ways"] = cfg["baseline_classes"] = n_val
    torch.manual_seed(0)
    learner = build_learner(cfg).train()
    if method == "baseline":
        train_s = EpisodeSampler(vx, vy, n_val, 1, 3, seed=0)
        train_s.use_class_ids()
    else:
        train_s = EpisodeSampler(vx, vy, 5, 5, 5, seed=0)
    opt = torch.optim.Adam(learner.param_groups(), lr=lr)
    for group in opt.param_groups:  # as the trainer does (a group may ask for a scaled rate)
        group["lr"] = lr * group.get("lr_scale", 1.0)
    start = time.perf_counter()
    for step in range(steps):
        loss, _ = learner.meta_loss(train_s.batch(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
    res = evaluate(learner, EpisodeSampler(tx, ty, 5, 5, 10, seed=2017), 100, batch_size=10)
    print(
        f"{method}: {steps} steps in {time.perf_counter() - start:.1f} s, 5-way 5-shot test accuracy "
        f"{100 * res['accuracy']:.1f} +- {100 * res['ci95']:.1f}%"
    )
    assert res["accuracy"] > 0.30  # chance is 0.20; +-0.03 is the interval over 100 episodes
