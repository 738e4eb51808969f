"""EfficientNet-Lite0: architecture, strict loading of the packaged ImageNet weights, and their ImageNet accuracy on
mini-ImageNet test images (which are ImageNet-1k images of known wnids)."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fastadapt.nn import efficientnet as E

ZIP = (
    Path(os.environ.get("FASTADAPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    / "mini-imagenet"
    / "mini-imagenet.zip"
)
PARAMS = 4_652_008  # EfficientNet-Lite0 with its 1000-way classifier ("4.7M")


def test_shapes_and_parameter_count():
    model = E.EfficientNetLite0(pretrained=False).eval()
    x = torch.rand(2, 3, 84, 84)
    with torch.no_grad():
        assert model(x).shape == (2, 1280)
        assert model.logits(x).shape == (2, 1000)
    assert sum(p.numel() for p in model.parameters()) == PARAMS


def test_missing_weights_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(E, "WEIGHTS_PACKAGE", "no_such_weights_package_xyz")
    with pytest.raises(ImportError, match=r"fastadapt\[pretrained\]"):
        E.EfficientNetLite0(pretrained=True)


def test_imagenet_wnids():
    wnids = E.imagenet_wnids()
    assert len(wnids) == len(set(wnids)) == 1000
    assert wnids[0] == "n01440764" and wnids[-1] == "n15075141" and wnids.index("n01532829") == 12  # house finch


def test_weights_match_the_package_state_dict():
    pytest.importorskip(E.WEIGHTS_PACKAGE)
    state = torch.load(E.weights_path(), map_location="cpu", weights_only=True)
    model = E.EfficientNetLite0()  # loads with strict=True
    total = sum(
        v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )
    assert total == sum(p.numel() for p in model.parameters()) == PARAMS
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_imagenet_accuracy_on_mini_imagenet():
    pytest.importorskip(E.WEIGHTS_PACKAGE)
    if not ZIP.exists():
        pytest.skip(f"{ZIP} not found; set FASTADAPT_DATA.")
    with zipfile.ZipFile(ZIP) as z:
        by_class: dict[str, list[str]] = {}
        for name in sorted(z.namelist()):
            if name.startswith("test/") and name.endswith(".jpg"):
                by_class.setdefault(name.split("/")[1], []).append(name)
        files = [f for wnid in sorted(by_class) for f in by_class[wnid][:10]]
        images = np.stack([np.asarray(Image.open(io.BytesIO(z.read(f))).convert("RGB")) for f in files])
    assert len(files) == 200
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255  # 84x84, upsampled to 224 by the model
    index = {w: i for i, w in enumerate(E.imagenet_wnids())}
    y = torch.tensor([index[f.split("/")[1]] for f in files])
    model = E.EfficientNetLite0().eval()
    with torch.no_grad():
        top5 = torch.cat([model.logits(x[i : i + 50]) for i in range(0, len(x), 50)]).topk(5, dim=1).indices
    top1_acc = (top5[:, 0] == y).float().mean().item()
    top5_acc = (top5 == y[:, None]).any(1).float().mean().item()
    print(f"ImageNet top-1 {top1_acc:.3f}, top-5 {top5_acc:.3f} on 200 mini-ImageNet test images")
    assert top5_acc >= 0.60 and top1_acc >= 0.30  # measured 0.755 / 0.475
