import io
import shutil
import time
import zipfile

import numpy as np
import pytest

from fastadapt.tasks import omniglot as og


def read_split(data_root, part):
    return (data_root / "omniglot" / "splits" / "vinyals" / f"{part}.txt").read_text().split()


@pytest.mark.parametrize("part,chars", [("train", 1028), ("val", 172), ("test", 423), ("trainval", 1200)])
def test_vinyals_split_matches_reference_lists(omniglot, data_root, part, chars):
    idx = og.split_characters(omniglot, "vinyals", part)
    assert len(idx) == chars
    ours = {
        f"{omniglot.alphabets[i]}/character{omniglot.character[i]:02d}/rot{r:03d}"
        for i in idx
        for r in (0, 90, 180, 270)
    }
    assert ours == set(read_split(data_root, part))


def test_lake_split_and_index(omniglot):
    assert len(og.split_characters(omniglot, "lake", "background")) == 964
    assert len(og.split_characters(omniglot, "lake", "evaluation")) == 659
    assert omniglot.images.shape == (1623, 20, 28, 28) and omniglot.images.dtype == np.uint8
    assert len(set(omniglot.alphabets)) == 50 and sorted(omniglot.char_id) == list(range(1, 1624))
    assert (omniglot.drawer == np.arange(1, 21)).all()
    ink = omniglot.images.mean()
    assert 5 < ink < 60  # strokes bright on a dark background
    with pytest.raises(ValueError, match="Unknown Omniglot split"):
        og.split_characters(omniglot, "vinyal", "train")
    with pytest.raises(ValueError, match="has parts"):
        og.split_characters(omniglot, "lake", "test")


def test_rotated_classes(data_root):
    ds = og.omniglot_classes("vinyals", "val", root=data_root)
    assert len(ds.class_names) == 688 and ds.x.shape == (688 * 20, 1, 28, 28)
    a, b = ds.x[ds.y == 0][0, 0], ds.x[ds.y == 1][0, 0]  # same drawing, rot000 and rot090
    assert np.array_equal(np.rot90(a.numpy()), b.numpy())


@pytest.fixture()
def archive_copy(data_root, tmp_path):
    dst = tmp_path / "omniglot"
    dst.mkdir()
    for name in og.ARCHIVES:
        shutil.copy(data_root / "omniglot" / f"{name}.zip", dst / f"{name}.zip")
    return tmp_path


def test_cache_round_trip_and_invalidation(archive_copy, omniglot):
    t = time.perf_counter()
    first = og.load_images(archive_copy, download=False)
    decode = time.perf_counter() - t
    assert (archive_copy / "omniglot" / "cache" / "omniglot-28px.npy").exists()
    t = time.perf_counter()
    again = og.load_images(archive_copy, download=False)
    assert time.perf_counter() - t < 1.0 and decode < 60
    assert np.array_equal(first.images, again.images) and np.array_equal(again.images, omniglot.images)
    # A changed archive (one drawing blanked) invalidates the cache.
    path = archive_copy / "omniglot" / "images_evaluation.zip"
    with zipfile.ZipFile(path) as src:
        entries = [(i, src.read(i)) for i in src.infolist()]
    victim = min(i.filename for i, _ in entries if i.filename.endswith(".png"))  # first evaluation drawing
    blank = og.Image.new("1", (105, 105), 1)
    buf = io.BytesIO()
    blank.save(buf, "PNG")
    with zipfile.ZipFile(path, "w") as dst:
        for info, data in entries:
            dst.writestr(info, buf.getvalue() if info.filename == victim else data)
    changed = og.load_images(archive_copy, download=False)
    assert changed.images[964, 0].max() == 0 and first.images[964, 0].max() > 0
    assert np.array_equal(changed.images[965:], first.images[965:])


def rewrite_zip(path, extra=None, drop=None):
    with zipfile.ZipFile(path) as src:
        entries = [(i, src.read(i)) for i in src.infolist() if not (drop and drop(i.filename))]
    with zipfile.ZipFile(path, "w") as dst:
        for info, data in entries:
            dst.writestr(info, data)
        if extra:
            dst.writestr(extra, b"boom")


@pytest.mark.parametrize("bad", ["../evil.png", "/etc/evil.png", "images_evaluation/../../x.png"])
def test_escaping_zip_entry_refused(archive_copy, bad):
    path = archive_copy / "omniglot" / "images_evaluation.zip"
    rewrite_zip(path, extra=bad)
    with pytest.raises(og.ArchiveError, match="escape the target folder"):
        og.load_images(archive_copy, download=False)


def test_incomplete_archive_refused(archive_copy):
    path = archive_copy / "omniglot" / "images_background.zip"
    rewrite_zip(path, drop=lambda n: n.endswith("_20.png") and "Latin" in n)
    with pytest.raises(og.ArchiveError, match="another count"):
        og.verify_archive(path, "images_background")


def test_truncated_archive_refused(archive_copy):
    path = archive_copy / "omniglot" / "images_background.zip"
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(og.ArchiveError, match="truncated"):
        og.load_images(archive_copy, download=False)


def test_missing_archive_offline_says_where(tmp_path, monkeypatch):
    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(og.urllib.request, "urlopen", offline)
    with pytest.raises(og.ArchiveError) as e:
        og.load_images(tmp_path)
    msg = str(e.value)
    assert "images_background.zip" in msg and str(tmp_path / "omniglot") in msg and og.OFFICIAL_URL[:30] in msg


def test_download_checks_md5(tmp_path, monkeypatch):
    class Resp(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(og.urllib.request, "urlopen", lambda *a, **k: Resp(b"not omniglot"))
    with pytest.raises(og.ArchiveError, match="md5"):
        og.archive_paths(tmp_path)
    assert not (tmp_path / "omniglot" / "images_background.zip").exists()


def test_data_root_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTADAPT_DATA", str(tmp_path))
    assert og.data_root() == tmp_path
    assert og.data_root("/x") == og.Path("/x")
    monkeypatch.delenv("FASTADAPT_DATA")
    assert og.data_root() == og.Path.home() / ".cache" / "fastadapt"


def test_trainval_split_trains_on_1200_characters(data_root):
    from fastadapt.presets import get_preset
    from fastadapt.tasks import build_sampler

    cfg = {**get_preset("omniglot-protonet-5w1s"), "data_root": str(data_root)}
    classes = {
        s: {p: build_sampler({**cfg, "split": s}, p, 5, 1, 1, 0).num_classes for p in ("train", "val", "test")}
        for s in ("vinyals", "vinyals-trainval")
    }
    assert classes["vinyals"] == {"train": 1028 * 4, "val": 172 * 4, "test": 423 * 4}
    assert classes["vinyals-trainval"] == {"train": 1200 * 4, "val": 172 * 4, "test": 423 * 4}
    with pytest.raises(ValueError, match="Unknown Omniglot split 'vinyal'.*vinyals-trainval"):
        build_sampler({**cfg, "split": "vinyal"}, "train", 5, 1, 1, 0)
