"""Natural-image data sets (fastadapt.tasks.image_sets): archive verification, the decoded cache, clear errors,
and the real mini-ImageNet / flowers archives when present."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from fastadapt.tasks import image_sets as ims
from fastadapt.tasks.image_sets import DataSetError, ImageSetSpec, load_image_set

SHARED = Path(os.environ.get("FASTADAPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _jpeg(rgb: tuple[int, int, int], size: int = 84, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (size, size), rgb if mode == "RGB" else rgb[0]).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """A 3-class, 4-image 'tiny' set: class c's images are flat colour (40c, 10i, 200); one is grayscale and
    one is 100x60 (converted and resized)."""
    spec = ImageSetSpec("tiny", "tiny.zip", "0" * 64, {"test": (3, 12)}, False, "Put tiny.zip at {where}.")
    monkeypatch.setitem(ims.SPECS, "tiny", spec)
    folder = tmp_path / "tiny"
    folder.mkdir()
    with zipfile.ZipFile(folder / "tiny.zip", "w") as zf:
        for c in range(3):
            for i in range(4):
                data = _jpeg((40 * c, 10 * i, 200))
                if (c, i) == (1, 2):
                    data = _jpeg((90, 0, 0), mode="L")
                if (c, i) == (2, 3):
                    buf = io.BytesIO()
                    Image.new("RGB", (100, 60), (80, 30, 200)).save(buf, "PNG")
                    data = buf.getvalue()
                zf.writestr(f"c{c}/img{i}.png", data)
    return tmp_path


def test_cache_holds_the_decoded_images(tiny):
    d = load_image_set("tiny", "test", root=tiny, workers=2, progress=False)
    assert d.x.shape == (12, 3, 84, 84) and d.x.dtype == torch.uint8
    assert d.class_names == ["c0", "c1", "c2"] and d.y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert d.x[4 + 1, :, 5, 5].tolist() == [40, 10, 200]
    assert d.x[4 + 2, :, 5, 5].tolist() == [90, 90, 90]  # grayscale -> RGB
    assert d.x[8 + 3, :, 40, 40].tolist() == [80, 30, 200]  # 100x60 resized to 84x84
    assert not d.published_sha256  # not the archive SOURCE.md names
    cache = tiny / "tiny" / "cache" / "tiny-test-84px.npy"
    stamp = cache.stat().st_mtime_ns
    again = load_image_set("tiny", "test", root=tiny, progress=False)  # served from the cache
    assert cache.stat().st_mtime_ns == stamp and torch.equal(again.x, d.x)
    assert not list(cache.parent.glob(".*.tmp"))


def test_missing_truncated_and_incomplete_archives(tiny, monkeypatch):
    with pytest.raises(DataSetError, match="Put tiny.zip at"):
        load_image_set("tiny", "test", root=tiny / "elsewhere")
    with pytest.raises(DataSetError, match="test-only|has the parts"):
        load_image_set("tiny", "train", root=tiny)
    monkeypatch.setitem(ims.SPECS, "tiny", ImageSetSpec("tiny", "tiny.zip", "", {"test": (3, 13)}, False, "x {where}"))
    with pytest.raises(DataSetError, match="expected 3 classes and 13 images"):
        load_image_set("tiny", "test", root=tiny)
    z = tiny / "tiny" / "tiny.zip"
    z.write_bytes(z.read_bytes()[: z.stat().st_size // 2])
    with pytest.raises(DataSetError, match="not a readable zip"):
        load_image_set("tiny", "test", root=tiny)


def test_corrupt_member_and_undecodable_image(tiny):
    z = tiny / "tiny" / "tiny.zip"
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr("c0/zz-broken.jpg", b"this is not an image")
    spec = ims.SPECS["tiny"]
    ims.SPECS["tiny"] = ImageSetSpec("tiny", "tiny.zip", "", {"test": (3, 13)}, False, "{where}")
    try:
        with pytest.raises(DataSetError, match="zz-broken.jpg is not a readable image"):
            load_image_set("tiny", "test", root=tiny, workers=1, progress=False)
    finally:
        ims.SPECS["tiny"] = spec


def test_crc_error_in_a_member_is_named(tiny):
    """A stored member whose bytes were flipped fails its CRC check: a clear error naming it, not a traceback."""
    z = tiny / "tiny" / "tiny.zip"
    raw = bytearray(z.read_bytes())
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("c0/img0.png")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 40
    raw[start] ^= 0xFF
    z.write_bytes(bytes(raw))
    with pytest.raises(DataSetError, match="c0/img0.png"):
        load_image_set("tiny", "test", root=tiny, workers=1, progress=False)


def test_a_folder_in_the_same_layout_is_accepted(tiny):
    folder = tiny / "tiny"
    with zipfile.ZipFile(folder / "tiny.zip") as zf:
        zf.extractall(folder)
    (folder / "tiny.zip").unlink()
    d = load_image_set("tiny", "test", root=tiny, progress=False)
    assert d.x.shape == (12, 3, 84, 84) and d.x[4 + 1, :, 5, 5].tolist() == [40, 10, 200]


def test_channel_stats_of_constant_images():
    x = torch.zeros(10, 3, 4, 4, dtype=torch.uint8)
    x[:, 0] = 255
    mean, std = ims.channel_stats(x)
    assert mean == pytest.approx([1.0, 0.0, 0.0]) and std == pytest.approx([0.0, 0.0, 0.0])


@pytest.mark.skipif(not (SHARED / "mini-imagenet" / "mini-imagenet.zip").exists(), reason="no mini-ImageNet archive")
def test_real_mini_imagenet_val_and_flowers():
    val = load_image_set("mini-imagenet", "val", root=SHARED, progress=False)
    assert val.x.shape == (4800, 3, 84, 84) and len(val.class_names) == 16
    assert val.published_sha256 and val.class_names == ims._ravi_classes()["val"]
    assert torch.bincount(val.y).tolist() == [300] * 16
    flowers = load_image_set("flowers102-partial", "test", root=SHARED, progress=False)
    assert flowers.x.shape == (5543, 3, 84, 84) and len(flowers.class_names) == 89
    assert int(torch.bincount(flowers.y).min()) == 28
    assert 0.2 < float(flowers.x[:200].float().mean() / 255) < 0.6  # real photos, not blanks
