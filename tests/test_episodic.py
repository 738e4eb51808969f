"""nn/episodic.py: encoders over inputs with leading dimensions; test-time views (mirror image, five crops)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fastadapt.nn.conv4 import Conv4
from fastadapt.nn.episodic import batch_statistics, embed, embed_views, five_crops


def test_leading_dimensions_are_kept_and_match_a_flat_pass():
    enc = Conv4(hidden=4).eval()
    x = torch.rand(2, 3, 1, 28, 28)
    z = embed(enc, x)
    assert z.shape == (2, 3, 4)
    assert torch.allclose(z[1, 2], enc(x[1, 2:3])[0], atol=1e-5)


def test_feature_maps_keep_their_shape():
    enc = torch.nn.Conv2d(1, 2, 3)
    assert embed(enc, torch.rand(4, 1, 8, 8)).shape == (4, 2, 6, 6)


def test_rejects_non_images():
    with pytest.raises(ValueError, match=r"\[\.\.\., C, H, W\]"):
        embed(Conv4(), torch.rand(28, 28))


def test_batch_statistics_normalize_by_the_batch_and_keep_running_averages():
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm1d(3).eval()
    bn.running_mean.fill_(5.0)
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    x = torch.randn(8, 3) * 2 + 1
    with batch_statistics(bn):
        y = bn(x)
    expected = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + bn.eps)  # batch statistics by hand
    assert torch.allclose(y, expected, atol=1e-5)
    assert not bn.training and bn.momentum == 0.1
    assert all(torch.equal(v, before[k]) for k, v in bn.state_dict().items())
    assert not torch.allclose(bn(x), expected, atol=1e-2)  # running averages again


def test_five_crops_are_the_corners_and_centre_resized_back():
    """Crops of side 2 of a 4x4 image: each is resized back to 4x4, and an image whose four 2x2 corner blocks are
    constant gives those constants back; the centre crop is the middle block."""
    x = torch.tensor([[1.0, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]).expand(2, 3, 4, 4)
    views = five_crops(x, 2)
    assert len(views) == 5 and all(v.shape == x.shape for v in views)
    for v, value in zip(views[:4], (1.0, 2.0, 3.0, 4.0)):
        assert torch.equal(v, torch.full_like(x, value))
    centre = F.interpolate(x[..., 1:3, 1:3], size=(4, 4), mode="bilinear", align_corners=False)
    assert torch.equal(views[4], centre)
    with pytest.raises(ValueError, match="five-crop side must be between 1 and 3"):
        five_crops(x, 4)


def test_embed_views_mix_the_whole_image_and_its_crops():
    """``crop_weight`` w: (1 - w) x the (mirror-averaged) whole image's features + w x the crops' mean, from the
    encoder's own outputs; w = 1 uses the crops alone (the whole image is not embedded)."""
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(2), nn.Flatten())
    x = torch.rand(6, 3, 12, 12)
    whole = (enc(x) + enc(x.flip(-1))) / 2
    crops = torch.stack([enc(v) for v in five_crops(x, 9)]).mean(0)
    got = embed_views(enc, x, flip=True, crop=9, crop_weight=0.25)
    assert torch.allclose(got, 0.75 * whole + 0.25 * crops, atol=1e-5)
    calls = []
    enc.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    assert torch.allclose(embed_views(enc, x, flip=True, crop=9), crops, atol=1e-5)  # weight 1 by default
    assert calls == [6] * 5
    assert torch.allclose(embed_views(enc, x, flip=True), whole, atol=1e-5)


def test_an_encoder_that_resizes_its_input_gets_the_crops_as_they_are():
    """EfficientNet-Lite0 resizes any input to its own size: crops go to it unresized (one interpolation, not two)."""
    seen = []

    class Resizing(nn.Module):
        resizes_input = True

        def forward(self, x):
            seen.append(tuple(x.shape[-2:]))
            return F.interpolate(x, size=(8, 8), mode="bilinear").mean((-2, -1))

    x = torch.rand(3, 3, 12, 12)
    got = embed_views(Resizing(), x, crop=9)
    assert seen == [(9, 9)] * 5
    want = sum(F.interpolate(v, size=(8, 8), mode="bilinear").mean((-2, -1)) for v in five_crops(x, 9, False)) / 5
    assert torch.allclose(got, want, atol=1e-6)
