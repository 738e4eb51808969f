"""nn/episodic.py: encoders over inputs with leading dimensions."""
import pytest
import torch

from fastadapt.nn.conv4 import Conv4
from fastadapt.nn.episodic import embed


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
