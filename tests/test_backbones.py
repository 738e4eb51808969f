"""Backbones chosen by name (fastadapt.nn.backbones), input standardization, and the bf16 encoder path."""

from __future__ import annotations

import pytest
import torch

from fastadapt.configs import build_learner
from fastadapt.learners import ProtoNet
from fastadapt.nn.backbones import BackboneSpec, ResNet12, drop_block
from fastadapt.nn.conv4 import Conv4, InputNorm
from fastadapt.nn.episodic import embed
from fastadapt.presets import get_preset
from fastadapt.tasks.task import TaskBatch


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_conv4_on_colour_84px_matches_snell():
    spec = BackboneSpec("conv4", in_channels=3, image_size=84)
    net = spec.build().eval()
    assert net(torch.rand(2, 3, 84, 84)).shape == (2, spec.features) == (2, 1600)  # 64 x 5 x 5
    assert n_params(net) == 113_088  # 4 blocks of 64 3x3 filters with BatchNorm (Snell 2017: ~113k)


def test_resnet12_shape_and_size_match_lee2019():
    net = BackboneSpec("resnet12", in_channels=3, image_size=84).build().eval()
    assert net(torch.rand(2, 3, 84, 84)).shape == (2, 640)
    assert round(n_params(net) / 1e6, 1) == 12.4  # MetaOptNet (Lee 2019) reports 12.4M parameters


def test_drop_block_drops_about_p_and_keeps_the_mean():
    torch.manual_seed(0)
    x = torch.ones(64, 8, 20, 20)
    y = drop_block(x, 0.1, 5)
    assert 0.05 < float((y == 0).float().mean()) < 0.15
    assert float(y.mean()) == pytest.approx(1.0, rel=1e-5)
    net = ResNet12(drop_block=0.1).eval()
    x = torch.rand(2, 3, 84, 84)
    assert torch.equal(net(x), net(x))  # no dropping at test time


def test_input_norm_standardizes_and_is_not_saved():
    norm = InputNorm(3, [0.5, 0.25, 0.0], [0.5, 0.25, 1.0])
    x = torch.rand(2, 3, 4, 4)
    want = (x - torch.tensor([0.5, 0.25, 0.0]).view(1, 3, 1, 1)) / torch.tensor([0.5, 0.25, 1.0]).view(1, 3, 1, 1)
    assert torch.allclose(norm(x), want)
    assert Conv4(3, mean=[0.5] * 3, std=[0.2] * 3).state_dict().keys() == Conv4(3).state_dict().keys()
    with pytest.raises(ValueError, match="reads 3-channel images, got 1"):
        norm(torch.rand(2, 1, 4, 4))
    with pytest.raises(ValueError, match="both"):
        InputNorm(3, [0.5] * 3, None)
    with pytest.raises(ValueError, match="3 values each"):
        InputNorm(3, [0.5] * 2, [0.2] * 2)
    with pytest.raises(ValueError, match="backbone must be one of"):
        BackboneSpec("vgg")


def test_bf16_encoder_returns_fp32_features_close_to_fp32():
    torch.manual_seed(0)
    net = Conv4(3).eval()
    x = torch.rand(8, 3, 84, 84)
    ref, low = embed(net, x, "fp32"), embed(net, x, "bf16")
    assert low.dtype == torch.float32
    assert float((low - ref).norm() / ref.norm()) < 0.02  # bf16 keeps 8 bits of mantissa
    with pytest.raises(ValueError, match="precision must be one of"):
        ProtoNet().set_precision("int8")


def test_bf16_protonet_meta_gradient_follows_fp32():
    """The meta-gradient of a bf16-encoder ProtoNet points where the fp32 one does (heads stay in fp32)."""
    torch.manual_seed(0)
    cfg = {**get_preset("mini-imagenet-protonet-5w5s"), "precision": "fp32"}
    learner = build_learner(cfg)
    batch = TaskBatch(
        torch.rand(1, 25, 3, 84, 84),
        torch.arange(5).repeat_interleave(5)[None],
        torch.rand(1, 25, 3, 84, 84),
        torch.arange(5).repeat_interleave(5)[None],
        ways=5,
    )
    grads = {}
    for precision in ("fp32", "bf16"):
        learner.set_precision(precision)
        learner.zero_grad()
        learner.meta_loss(batch)[0].backward()
        grads[precision] = torch.cat([p.grad.flatten() for p in learner.parameters()])
    cos = torch.nn.functional.cosine_similarity(grads["fp32"], grads["bf16"], dim=0)
    assert float(cos) > 0.98
