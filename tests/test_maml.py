"""MAML (Finn 2017): the public constructor, presets, and a short real Omniglot training."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from fastadapt import FOMAML, MAML
from fastadapt.configs import build_learner
from fastadapt.presets import apply_overrides, get_preset


def test_constructor_and_first_order_flag():
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    assert not MAML(net, inner_lr=0.1, inner_steps=2).first_order
    assert MAML(net, first_order=True).first_order and FOMAML(net).first_order
    learner = MAML(net, inner_lr=0.1, inner_steps=2, test_inner_steps=4)
    assert learner._steps() == 2 and learner.eval()._steps() == 4


def test_presets_build_the_papers_settings():
    cfg = get_preset("omniglot-maml-5w1s")
    learner = build_learner(cfg)
    assert (learner.inner_lr, learner.inner_steps, learner.test_inner_steps) == (0.4, 1, 3)
    assert cfg["meta_batch"] == 32 and cfg["train_ways"] == 5
    assert build_learner(get_preset("omniglot-fomaml-5w1s")).first_order
    pp = build_learner(get_preset("omniglot-mamlpp-20w1s"))
    assert pp.lr_mode == "per_layer_step" and pp.multi_step_loss and len(pp.lrs[0]) == 5
    assert learner.task_chunk is None  # 0 in the config: the whole meta-batch
    chunked = build_learner(apply_overrides(cfg, ["task_chunk=8"]))
    assert chunked.task_chunk == 8


def test_multi_step_loss_weights_anneal_to_the_last_step():
    learner = MAML(nn.Linear(2, 2), inner_steps=3, multi_step_loss=True, msl_anneal=10)
    w0 = learner._msl_weights(3)
    torch.testing.assert_close(w0, torch.full((3,), 1 / 3))
    learner.meta_iterations.fill_(10)
    torch.testing.assert_close(learner._msl_weights(3), torch.tensor([0.0, 0.0, 1.0]))


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_short_maml_training_on_omniglot_5w1s_is_clearly_above_chance(data_root, precision):
    """Second-order MAML, 5-way 1-shot, a few hundred small meta-batches (CI-sized; the paper trains 60,000),
    in fp32 and with the network under bf16 autocast (weights and fast weights fp32)."""
    from fastadapt.tasks import build_sampler
    from fastadapt.train.evaluate import evaluate

    cfg = dict(get_preset("omniglot-maml-5w1s"), data_root=str(data_root), precision=precision)
    torch.manual_seed(0)
    learner = build_learner(cfg)
    train = build_sampler(cfg, "train", 5, 1, 1, seed=0)
    opt = torch.optim.Adam(learner.parameters(), 2e-3)
    start = time.perf_counter()
    for i in range(150):
        loss, _ = learner.meta_loss(train.batch(i, 4))
        opt.zero_grad()
        loss.backward()
        opt.step()
    res = evaluate(learner, build_sampler(cfg, "test", 5, 1, 5, seed=7), episodes=100)
    assert res["accuracy"] > 0.45, (res, time.perf_counter() - start)
