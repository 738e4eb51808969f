"""nn/episodic.py: encoders over inputs with leading dimensions."""

import pytest
import torch

from fastadapt.nn.conv4 import Conv4
from fastadapt.nn.episodic import batch_statistics, embed


def test_leading_dimensions_are_kept_and_match_a_flat_pass():
    enc = Conv4(hidden=4).eval()
    x = torch.rand(2, 3, 1, 28, 28)
    z = embed(enc, x)
    assert z.shape == (2, 3, 4)
    assert torch.allclose(z[1, 2], enc(x[1, 2:3])[0], atol=1e-6)


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
