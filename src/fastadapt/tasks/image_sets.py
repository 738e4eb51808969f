"""Natural-image few-shot data sets read from an archive (or a folder in the same layout), verified, and
decoded once into a memory-mapped uint8 cache ``[M, 3, H, W]``: mini-ImageNet (Vinyals et al. 2016, with the
class split of Ravi & Larochelle 2017) and the partial Oxford Flowers-102 (Nilsback & Zisserman 2008) used as a
cross-domain target. Decoding runs in parallel worker processes that write straight into the cache file."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from ..io import atomic_write_bytes
from . import DATASETS
from .folders import eight_bit
from .omniglot import ClassDataset, _cache_dir, _safe_names, _sha256, data_root
from .sampler import EpisodeSampler

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_SPLITS_DIR = Path(__file__).parent / "splits"


class DataSetError(RuntimeError):
    """A data set's archive or folder is missing, unreadable or does not hold what it should."""


@dataclass(frozen=True)
class ImageSetSpec:
    """What a data set's archive must hold. ``parts`` maps a part (train / val / test) to ``(classes, images)``;
    ``prefixed`` says entries are ``<part>/<class>/<file>`` (else ``<class>/<file>``, one part only)."""

    name: str
    archive: str
    sha256: str
    parts: dict[str, tuple[int, int]]
    prefixed: bool
    obtain: str  # how a user without the archive gets it (shown in errors)
    size: int = 84
    split_file: str = ""  # the classes of each part, in tasks/splits/ (checked when given)


SPECS = {
    "mini-imagenet": ImageSetSpec(
        "mini-imagenet",
        "mini-imagenet.zip",
        "f59d7ab77496e36c954262d1dc633c25cbaf793b30c2fd87179f1794787decb0",
        {"train": (64, 38400), "val": (16, 4800), "test": (20, 12000)},
        True,
        "mini-ImageNet has no official download. Build it from ImageNet (ILSVRC-2012 train) with the split csv files "
        "of Ravi & Larochelle 2017 (github.com/twitter-research/meta-learning-lstm, data/miniImagenet), resized to "
        "84x84, and put it at {where} as mini-imagenet.zip or as folders train/, val/, test/ holding <wnid>/<file>.jpg "
        "(any image size; it is resized to 84x84).",
        split_file="mini_imagenet_ravi.json",
    ),
    "flowers102-partial": ImageSetSpec(
        "flowers102-partial",
        "flowers102-partial.zip",
        "a4feda4c4739cf2ce1a095e90c6dcec0077193fdea4aa447e298d60171dd31ac",
        {"test": (89, 5543)},
        False,
        "Put flowers102-partial.zip (89 Flowers-102 classes as <class id>/<file>.jpg) at {where}, or a folder of "
        "class sub-folders in the same layout.",
    ),
}


def split_classes(spec: ImageSetSpec) -> dict[str, list[str]]:
    """Part -> class names of a data set's published split (empty when it has none)."""
    return json.loads((_SPLITS_DIR / spec.split_file).read_text()) if spec.split_file else {}


def _ravi_classes() -> dict[str, list[str]]:
    return split_classes(SPECS["mini-imagenet"])


class _Source:
    """The images of a data set, from ``<root>/<name>/<archive>`` or from class folders in ``<root>/<name>/``."""

    def __init__(self, spec: ImageSetSpec, root: str | os.PathLike | None) -> None:
        self.spec, self.folder = spec, data_root(root) / spec.name
        self.zip = self.folder / spec.archive
        if self.zip.exists():
            try:
                with zipfile.ZipFile(self.zip) as zf:
                    names = _safe_names(zf, self.zip)
            except zipfile.BadZipFile as e:
                raise DataSetError(
                    f"{self.zip} is not a readable zip archive ({e}); it may be truncated. "
                    f"Replace it with a complete copy."
                ) from None
            self.entries = sorted(n for n in names if n.lower().endswith(IMAGE_SUFFIXES))
        elif self.folder.is_dir():
            self.zip = None
            self.entries = sorted(
                p.relative_to(self.folder).as_posix()
                for p in self.folder.rglob("*")
                if p.is_file()
                and p.suffix.lower() in IMAGE_SUFFIXES
                and not p.name.startswith(".")
                and "cache" not in p.relative_to(self.folder).parts
            )
        else:
            raise DataSetError(
                f"{spec.name}: neither {self.zip} nor image folders under {self.folder} exist. "
                + spec.obtain.format(where=self.folder)
            )
        if not self.entries:
            raise DataSetError(
                f"{spec.name}: found no images under {self.zip or self.folder}. "
                + spec.obtain.format(where=self.folder)
            )

    def fingerprint(self) -> str:
        """sha256 of the archive, or of the folder's file list with sizes (cheap, catches changed files)."""
        if self.zip is not None:
            return _sha256(self.zip)
        h = hashlib.sha256()
        for e in self.entries:
            h.update(f"{e}\0{(self.folder / e).stat().st_size}\n".encode())
        return "folder:" + h.hexdigest()

    def part_entries(self, part: str) -> dict[str, list[str]]:
        """Class name -> sorted entries of one part, with the counts checked against the spec."""
        classes: dict[str, list[str]] = {}
        for e in self.entries:
            parts = PurePosixPath(e).parts
            if self.spec.prefixed:
                if len(parts) != 3:
                    raise DataSetError(f"{self.spec.name}: unexpected entry {e!r}; expected <split>/<class>/<file>.")
                if parts[0] != part:
                    continue
            elif len(parts) != 2:
                raise DataSetError(f"{self.spec.name}: unexpected entry {e!r}; expected <class>/<file>.")
            classes.setdefault(parts[-2], []).append(e)
        n_cls, n_img = self.spec.parts[part]
        got = sum(map(len, classes.values()))
        if len(classes) != n_cls or (self.zip is not None and got != n_img):
            raise DataSetError(
                f"{self.spec.name} {part}: found {len(classes)} classes and {got} images in "
                f"{self.zip or self.folder}, expected {n_cls} classes and {n_img} images. The data set "
                f"is incomplete or laid out differently. " + self.spec.obtain.format(where=self.folder)
            )
        want = split_classes(self.spec).get(part)
        if want is not None and sorted(classes) != want:
            missing = sorted(set(want) - set(classes))
            raise DataSetError(
                f"{self.spec.name} {part}: the classes differ from its published split "
                f"(missing: {missing[:5]}{'...' if len(missing) > 5 else ''}); check the folder "
                f"against the split's csv files."
            )
        return dict(sorted(classes.items()))

    def read(self, entry: str, zf: zipfile.ZipFile | None) -> bytes:
        return zf.read(entry) if zf is not None else (self.folder / entry).read_bytes()


def decode_rgb(data: bytes, size: int, what: str) -> np.ndarray:
    """One image as uint8 ``[3, size, size]``: any mode converted to RGB, resized (aspect ratio ignored, as
    mini-ImageNet is built) when it is not ``size`` x ``size``."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img = eight_bit(img).convert("RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.LANCZOS)
            return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise DataSetError(
            f"{what} is not a readable image ({e.__class__.__name__}: {e}). Replace or remove it."
        ) from None


def _decode_chunk(args: tuple[str, str, str | None, list[str], int, int]) -> int:
    """Worker: decode ``entries`` into rows ``lo..`` of the cache file; returns how many it wrote."""
    npy, folder, zip_path, entries, lo, size = args
    out = np.load(npy, mmap_mode="r+")
    zf = zipfile.ZipFile(zip_path) if zip_path else None
    try:
        for i, e in enumerate(entries):
            try:
                data = zf.read(e) if zf is not None else (Path(folder) / e).read_bytes()
            except (zipfile.BadZipFile, OSError) as err:  # CRC errors and unreadable members
                raise DataSetError(
                    f"{zip_path or folder}: cannot read {e!r} ({err}); the archive is "
                    f"corrupt. Replace it with a complete copy."
                ) from None
            out[lo + i] = decode_rgb(data, size, f"{zip_path or folder}:{e}")
        out.flush()
    finally:
        if zf is not None:
            zf.close()
    return len(entries)


def _build_cache(
    src: _Source, part: str, classes: dict[str, list[str]], npy: Path, workers: int, progress: bool | None
) -> None:
    size = src.spec.size
    entries = [e for files in classes.values() for e in files]
    npy.parent.mkdir(parents=True, exist_ok=True)
    tmp = npy.with_name(f".{npy.name}.{os.getpid()}.tmp")
    np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(entries), 3, size, size)).flush()
    step = max(1, -(-len(entries) // (8 * workers)))
    jobs = [
        (str(tmp), str(src.folder), str(src.zip) if src.zip else None, entries[lo : lo + step], lo, size)
        for lo in range(0, len(entries), step)
    ]
    try:
        with (
            ProcessPoolExecutor(max_workers=workers) as pool,
            tqdm(
                total=len(entries),
                unit="img",
                desc=f"decoding {src.spec.name} {part}",
                disable=None if progress is None else not progress,
            ) as bar,
        ):
            for fut in as_completed([pool.submit(_decode_chunk, j) for j in jobs]):
                bar.update(fut.result())
        os.replace(tmp, npy)
    finally:
        tmp.unlink(missing_ok=True)


def load_image_set(
    name: str,
    part: str = "train",
    *,
    root: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool | None = None,
) -> ClassDataset:
    """One part of a natural-image data set as a `ClassDataset` with ``x`` uint8 ``[M, 3, 84, 84]`` (a view of the
    memory-mapped cache, built on first use) and class names; ``groups`` is all zeros (no super-classes)."""
    if name not in SPECS:
        raise DataSetError(f"Unknown image data set {name!r}; known: {sorted(SPECS)}.")
    spec = SPECS[name]
    if part not in spec.parts:
        raise DataSetError(
            f"{name} has the parts {sorted(spec.parts)}, not {part!r}"
            + (
                " (it is a test-only cross-domain target: evaluate on it with "
                "`fastadapt eval RUN --dataset flowers102-partial`)."
                if len(spec.parts) == 1
                else "."
            )
        )
    src = _Source(spec, root)
    cache = _cache_dir(src.folder) if src.folder.exists() else Path.home() / ".cache" / "fastadapt"
    cache = cache if cache.name == "cache" else cache.parent / f"{name}-cache"
    npy, meta_path = cache / f"{name}-{part}-{spec.size}px.npy", cache / f"{name}-{part}-{spec.size}px.json"
    fingerprint = src.fingerprint()
    meta = json.loads(meta_path.read_text()) if meta_path.exists() and npy.exists() else {}
    if meta.get("source") != fingerprint:
        classes = src.part_entries(part)
        _build_cache(src, part, classes, npy, workers or min(4, os.cpu_count() or 1), progress)
        meta = {
            "source": fingerprint,
            "size": spec.size,
            "classes": list(classes),
            "counts": [len(v) for v in classes.values()],
        }
        atomic_write_bytes(meta_path, json.dumps(meta).encode())
    x = torch.from_numpy(np.load(npy, mmap_mode="c"))  # copy-on-write map: pages load on first use
    counts = torch.tensor(meta["counts"])
    if int(counts.sum()) != len(x):
        raise DataSetError(
            f"The cache {npy} holds {len(x)} images, its index {int(counts.sum())}; delete "
            f"{cache} and run again to rebuild it."
        )
    y = torch.arange(len(counts)).repeat_interleave(counts)
    data = ClassDataset(x, y, torch.zeros(len(counts), dtype=torch.long)[y], meta["classes"], [name])
    data.published_sha256 = fingerprint == spec.sha256  # the very archive its SOURCE.md names
    return data


def channel_stats(x: torch.Tensor, sample: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation in [0, 1] units of uint8 images ``x [M, C, H, W]``, from an evenly
    spaced sample of ``sample`` images (exact enough for input normalization, and cheap)."""
    idx = torch.linspace(0, len(x) - 1, min(sample, len(x))).long()
    v = x[idx].double().div(255).transpose(0, 1).reshape(x.shape[1], -1)
    return v.mean(1).tolist(), v.std(1).tolist()


@lru_cache(maxsize=8)
def _cached_set(name: str, part: str, root: str) -> ClassDataset:
    return load_image_set(name, part, root=root or None)


def image_set_sampler(
    cfg: dict[str, Any], part: str, ways: int, shots: int, queries: int, seed: int, within_group: bool = False
) -> EpisodeSampler:
    """Episodes over one part of ``cfg["dataset"]`` (a test-only set serves every part from its one part)."""
    name = cfg["dataset"]
    parts = SPECS[name].parts
    data = _cached_set(name, part if part in parts or len(parts) > 1 else next(iter(parts)), cfg.get("data_root", ""))
    return EpisodeSampler(data.x, data.y, ways, shots, queries, seed=seed)


for _name in SPECS:
    DATASETS.register(_name)(image_set_sampler)
