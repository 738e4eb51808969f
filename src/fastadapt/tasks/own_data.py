"""Your own images for meta-training.

* `FewShotDataset` adapts any ``torch.utils.data.Dataset`` of ``(image, label)`` items (torchvision's ``ImageFolder``,
  the input of easyfsl's ``TaskSampler``, ...) by materializing its images once into a uint8 tensor that
  `EpisodeSampler` draws episodes from.
* `class_split` splits class names into reproducible train / val / test parts (few-shot tests on unseen classes).
* `image_folder_classes` reads an ImageFolder tree ``DIR/<class>/<images>`` and decodes it once into a cache under
  ``DIR/.fastadapt-cache/`` (rebuilt when the files change), where `folder_split` keeps the class split as
  ``split.json``. Config ``dataset`` values ``folder:/path/to/DIR`` train and test on such a folder
  (`fastadapt train --preset P --dataset folder:DIR`).

Images are resized to ``size`` x ``size`` ignoring the aspect ratio. With ``channels=1`` a folder's grayscale images
are stored with the ink bright, as `fastadapt adapt` reads them (`folders.load_image`); `FewShotDataset` keeps the
pixel values it is given."""

from __future__ import annotations

import hashlib
import json
import operator
import os
import stat
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from tqdm import tqdm

from ..io import atomic_write_bytes
from . import DATASET_PREFIXES
from .folders import ImageFolderError, _fit, class_tree, eight_bit, load_image
from .omniglot import ClassDataset
from .sampler import EpisodeSampler

PARTS = ("train", "val", "test")
CACHE_NAME = ".fastadapt-cache"
SPLIT_NAME = "split.json"
DEFAULT_FRACTIONS = (0.64, 0.16, 0.20)  # mini-ImageNet's 64 / 16 / 20 classes
_PARALLEL_FROM = 256  # decode in worker processes from this many images on


# ----------------------------------------------------------------------------------------------- FewShotDataset


def _check_shape(size: int, channels: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"size must be a positive integer (the side of the square images), got {size!r}.")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}.")


def _pil_to_uint8(img: Image.Image, size: int, channels: int) -> Tensor:
    arr = np.array(_fit(eight_bit(img).convert("L" if channels == 1 else "RGB"), size, "stretch"), dtype=np.uint8)
    return torch.from_numpy(np.ascontiguousarray(arr[None] if channels == 1 else arr.transpose(2, 0, 1)))


def _tensor_to_unit(t: Tensor, what: str) -> Tensor:
    """A ``[C, H, W]`` (or ``[H, W]``) image tensor as floats in [0, 1]; uint8 is scaled, floats must lie in [0, 1]."""
    t = t.detach().cpu()
    t = t[None] if t.ndim == 2 else t
    if t.ndim != 3 or t.shape[0] not in (1, 3):
        raise ValueError(
            f"{what}: image tensor of shape {tuple(t.shape)}; expected [C, H, W] with C = 1 or 3 "
            f"(channels first, as torchvision's ToTensor() gives)."
        )
    if t.dtype == torch.uint8:
        return t.float() / 255.0
    if not t.is_floating_point():
        raise ValueError(f"{what}: image tensor of dtype {t.dtype}; expected uint8 or floats in [0, 1].")
    lo, hi = float(t.min()), float(t.max())
    if not (lo >= -1e-6 and hi <= 1 + 1e-6):  # also catches NaN
        raise ValueError(
            f"{what}: image values span [{lo:.3g}, {hi:.3g}]; expected floats in [0, 1]. Drop the "
            f"Normalize transform (fastadapt standardizes inputs itself, see input_mean / input_std)."
        )
    return t.float().clamp(0, 1)


def _tensor_to_uint8(t: Tensor, size: int, channels: int, what: str) -> Tensor:
    x = _tensor_to_unit(t, what)
    if x.shape[0] != channels:
        luma = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)  # as PIL's convert("L")
        x = x.expand(3, -1, -1) if channels == 3 else (x * luma).sum(0, keepdim=True)
    if tuple(x.shape[1:]) != (size, size):
        x = F.interpolate(x[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
    return x.mul(255).round_().clamp_(0, 255).to(torch.uint8)


def to_uint8_image(image: Any, size: int, channels: int, what: str = "image") -> Tensor:
    """One image (a PIL image, or a ``[C, H, W]`` tensor of uint8 or of floats in [0, 1]) as uint8
    ``[channels, size, size]``."""
    if isinstance(image, Image.Image):
        return _pil_to_uint8(image, size, channels)
    if isinstance(image, Tensor):
        return _tensor_to_uint8(image, size, channels, what)
    raise ValueError(
        f"{what} is a {type(image).__name__}; expected a PIL image or a [C, H, W] tensor. Give the "
        f"dataset no transform, or one ending in torchvision's ToTensor() or PILToTensor()."
    )


def _label(value: Any, what: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(
            f"{what}: label {value!r} is not an integer class id; the items must be "
            f"(image, integer label) pairs, as torchvision's ImageFolder gives."
        ) from None


class FewShotDataset(Dataset):
    """Any dataset of ``(image, label)`` items materialized once for episode sampling: ``x`` uint8
    ``[M, channels, size, size]``, ``y`` long ``[M]`` (the labels as given) and ``class_names`` (one per class in
    sorted label order: the dataset's ``classes`` attribute, as ImageFolder has, else the labels as text).

    >>> data = FewShotDataset(torchvision.datasets.ImageFolder("birds/"), size=84)
    >>> parts = class_split(data.class_names)
    >>> train = data.sampler(ways=5, shots=5, queries=15, classes=parts["train"])
    """

    def __init__(
        self,
        dataset: Dataset,
        size: int,
        channels: int = 3,
        class_names: Sequence[str] | None = None,
        progress: bool | None = None,
    ) -> None:
        _check_shape(size, channels)
        n = len(dataset)  # type: ignore[arg-type]
        if n == 0:
            raise ValueError("The dataset is empty; FewShotDataset needs (image, label) items of at least two classes.")
        self.x = torch.empty(n, channels, size, size, dtype=torch.uint8)
        bar = tqdm(range(n), unit="img", desc="materializing", disable=None if progress is None else not progress)
        labels = [self._put(i, dataset[i], size, channels) for i in bar]
        self.y = torch.tensor(labels, dtype=torch.long)
        self.labels = sorted(set(labels))
        self.class_names = self._names(class_names or getattr(dataset, "classes", None))

    def _put(self, i: int, item: Any, size: int, channels: int) -> int:
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise ValueError(f"Item {i} is a {type(item).__name__}; expected an (image, label) pair.")
        self.x[i] = to_uint8_image(item[0], size, channels, f"item {i}")
        return _label(item[1], f"item {i}")

    def _names(self, names: Sequence[str] | None) -> list[str]:
        if names is not None and all(0 <= c < len(names) for c in self.labels):
            return [str(names[c]) for c in self.labels]
        return [str(c) for c in self.labels]

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.x[i], int(self.y[i])

    def select(self, classes: Sequence[str]) -> tuple[Tensor, Tensor]:
        """``x`` and ``y`` of the examples of the named classes (e.g. one part of `class_split`)."""
        unknown = sorted(set(classes) - set(self.class_names))
        if unknown:
            raise ValueError(
                f"Unknown classes {unknown[:5]}; the dataset's classes are {self.class_names[:10]}"
                f"{' ...' if len(self.class_names) > 10 else ''}."
            )
        keep = torch.tensor([self.labels[self.class_names.index(c)] for c in classes], dtype=torch.long)
        mask = torch.isin(self.y, keep)
        return self.x[mask], self.y[mask]

    def sampler(
        self, ways: int, shots: int, queries: int, *, seed: int = 0, classes: Sequence[str] | None = None
    ) -> EpisodeSampler:
        """An `EpisodeSampler` over all classes, or over the named ``classes``."""
        x, y = (self.x, self.y) if classes is None else self.select(classes)
        return EpisodeSampler(x, y, ways, shots, queries, seed=seed)


# ----------------------------------------------------------------------------------------------- class_split


def _check_fractions(fractions: Sequence[float]) -> None:
    if (
        len(fractions) != 3
        or any(not isinstance(f, (int, float)) or f <= 0 for f in fractions)
        or abs(sum(fractions) - 1) > 1e-6
    ):
        raise ValueError(
            f"fractions must be three positive numbers summing to 1 (train, val, test), got "
            f"{tuple(fractions)!r}; e.g. {DEFAULT_FRACTIONS}."
        )


def _part_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    """Classes per part: rounded fractions, at least two in each (``n`` >= 6), the rest in train."""
    val, test = (max(2, int(n * f + 0.5)) for f in fractions[1:])
    while n - val - test < 2:
        if val >= test:
            val -= 1
        else:
            test -= 1
    return [n - val - test, val, test]


def class_split(
    class_names: Sequence[str], fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0
) -> dict[str, list[str]]:
    """Split classes into ``{"train", "val", "test"}`` lists (each sorted), in proportion to ``fractions`` with at
    least two classes per part. The order comes from a hash of ``(seed, name)``: the same names and seed give the
    same split on any machine and Python version."""
    names = sorted(set(class_names))
    if len(names) != len(class_names):
        raise ValueError(
            f"class_names holds duplicates ({len(class_names)} names, {len(names)} distinct); pass each class once."
        )
    _check_fractions(fractions)
    if len(names) < 6:
        raise ValueError(
            f"{len(names)} classes cannot be split into train / val / test parts of at least two "
            f"classes each (an episode needs two classes, and tests use classes unseen in training). "
            f"Add classes: at least 6, and about {int(np.ceil(5 / min(fractions)))} for 5-way "
            f"episodes in every part."
        )
    order = sorted(names, key=lambda c: hashlib.sha256(f"{seed}\0{c}".encode()).hexdigest())
    sizes = _part_sizes(len(names), fractions)
    bounds = np.cumsum([0] + sizes)
    return {p: sorted(order[bounds[i] : bounds[i + 1]]) for i, p in enumerate(PARTS)}


# ----------------------------------------------------------------------------------------------- image folders


def cache_dir(root: Path) -> Path:
    """``root/.fastadapt-cache``; under ``~/.cache/fastadapt/folders`` when ``root`` is not writable (checked by
    permission bits too, since root ignores them)."""
    if os.access(root, os.W_OK) and root.stat().st_mode & stat.S_IWUSR:
        return root / CACHE_NAME
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    return Path.home() / ".cache" / "fastadapt" / "folders" / f"{root.name}-{digest}"


def scan_folder(root: str | os.PathLike) -> dict[str, list[Path]]:
    """Class name -> sorted image files of an ImageFolder tree ``root/<class>/<files>`` (hidden entries skipped)."""
    need = (
        f"few-shot data needs one sub-folder of images per class, {root}/<class name>/<images>, and many "
        f"classes (at least 6; about 32 for 5-way episodes)."
    )
    return class_tree(root, "Image folder", need)


def _file_index(root: Path, classes: dict[str, list[Path]]) -> list[list[Any]]:
    """``[relative path, bytes, mtime_ns]`` per file: what the cache is checked against."""
    rows = []
    for files in classes.values():
        for f in files:
            st = f.stat()
            rows.append([f.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns])
    return rows


def _decode(args: tuple[list[str], int, int]) -> np.ndarray:
    """Worker: image files as uint8 ``[n, channels, size, size]``."""
    files, size, channels = args
    out = [load_image(Path(f), size, channels=channels).mul(255).round_().to(torch.uint8).numpy() for f in files]
    return np.stack(out)


def _chunks(files: list[str], size: int, channels: int, workers: int):
    step = max(1, -(-len(files) // (8 * workers)))
    jobs = [(files[lo : lo + step], size, channels) for lo in range(0, len(files), step)]
    if workers == 1 or len(files) < _PARALLEL_FROM:
        yield from map(_decode, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_decode, jobs)


def _build_cache(files: list[Path], npy: Path, size: int, channels: int, progress: bool | None) -> None:
    npy.parent.mkdir(parents=True, exist_ok=True)
    tmp = npy.with_name(f".{npy.name}.{os.getpid()}.tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(files), channels, size, size))
    try:
        with tqdm(
            total=len(files),
            unit="img",
            desc=f"decoding {npy.parent.parent.name}",
            disable=None if progress is None else not progress,
        ) as bar:
            lo = 0
            for block in _chunks([str(f) for f in files], size, channels, min(4, os.cpu_count() or 1)):
                out[lo : lo + len(block)] = block
                lo += len(block)
                bar.update(len(block))
        out.flush()
        del out
        os.replace(tmp, npy)
    finally:
        tmp.unlink(missing_ok=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def image_folder_classes(
    root: str | os.PathLike, size: int = 84, channels: int = 3, *, progress: bool | None = None
) -> ClassDataset:
    """All images of an ImageFolder tree as a `ClassDataset`: ``x`` uint8 ``[M, channels, size, size]`` (a
    copy-on-write map of the cache), ``y`` the class index (sorted folder names), no groups. Decoded on first use
    into ``<cache_dir>/images-<size>px-<channels>c.npy`` with a JSON index of the files (path, bytes, mtime); a
    changed, added or removed file rebuilds it."""
    _check_shape(size, channels)
    root = Path(root).expanduser().absolute()
    classes = scan_folder(root)
    cache = cache_dir(root)
    npy, index_path = cache / f"images-{size}px-{channels}c.npy", cache / f"images-{size}px-{channels}c.json"
    index = {
        "size": size,
        "channels": channels,
        "classes": list(classes),
        "counts": [len(v) for v in classes.values()],
        "files": _file_index(root, classes),
    }
    if not npy.exists() or _read_json(index_path) != index:
        _build_cache([f for files in classes.values() for f in files], npy, size, channels, progress)
        atomic_write_bytes(index_path, json.dumps(index).encode())
    x = torch.from_numpy(np.load(npy, mmap_mode="c"))
    counts = torch.tensor(index["counts"])
    if len(x) != int(counts.sum()):
        raise ImageFolderError(
            f"The cache {npy} holds {len(x)} images, the folder {int(counts.sum())}; delete "
            f"{cache} and run again to rebuild it."
        )
    y = torch.arange(len(counts)).repeat_interleave(counts)
    return ClassDataset(x, y, torch.zeros(len(counts), dtype=torch.long), list(classes), [root.name])


def _valid_split(split: Any, class_names: Sequence[str]) -> bool:
    if not isinstance(split, dict) or not all(isinstance(split.get(p), list) for p in PARTS):
        return False
    listed = [c for p in PARTS for c in split[p]]
    return len(listed) == len(set(listed)) and set(listed) == set(class_names)


def folder_split(
    root: str | os.PathLike, class_names: Sequence[str], fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0
) -> tuple[dict[str, list[str]], Path]:
    """The class split of an image folder and the path of its ``split.json`` (in the cache folder). A saved split
    that lists exactly the folder's classes is used as it is (edit it to move classes between parts); otherwise
    `class_split` computes a new one and saves it."""
    path = cache_dir(Path(root).expanduser().absolute()) / SPLIT_NAME
    saved = _read_json(path) if path.exists() else None
    if _valid_split(saved, class_names):
        return {p: list(saved[p]) for p in PARTS}, path
    if path.exists():
        print(
            f"fastadapt: {path} does not list the folder's {len(class_names)} classes once each (classes were "
            f"added or removed, or it was edited); a new split is saved there.",
            file=sys.stderr,
        )
    try:
        split = class_split(class_names, fractions, seed)
    except ValueError as e:
        raise ImageFolderError(f"{Path(root)}: {e}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    note = "Classes per part of this image folder for fastadapt; edit to move classes, delete to recompute."
    atomic_write_bytes(
        path, json.dumps({"note": note, "seed": seed, "fractions": list(fractions), **split}, indent=1).encode()
    )
    return split, path


def folder_sampler(
    cfg: dict[str, Any], part: str, ways: int, shots: int, queries: int, seed: int, within_group: bool = False
) -> EpisodeSampler:
    """Episodes over one part (train / val / test) of the classes of the folder in ``cfg["dataset"]`` =
    ``"folder:DIR"``, at ``cfg["image_size"]`` and ``cfg["channels"]``."""
    root = cfg["dataset"].partition(":")[2]
    if not root:
        raise ValueError("dataset 'folder:' names no folder; use folder:/path/to/DIR (DIR/<class>/<images>).")
    if within_group:
        raise ValueError(
            "Within-alphabet episodes need groups of classes (Omniglot's alphabets); an image folder "
            "has none. Drop --within-alphabet."
        )
    data = image_folder_classes(root, cfg["image_size"], cfg.get("channels", 3))
    split, path = folder_split(root, data.class_names)
    names = split[part]
    if ways > len(names):
        raise ValueError(
            f"The {part} part of {root} holds {len(names)} classes ({path}), too few for {ways}-way "
            f"episodes. Lower the ways (--set ways=N for validation and test, --set train_ways=N for "
            f"training; at most {len(names)} here), add class folders, or move classes into "
            f"'{part}' in {path}."
        )
    index = {c: i for i, c in enumerate(data.class_names)}
    mask = torch.isin(data.y, torch.tensor([index[c] for c in names]))
    return EpisodeSampler(data.x[mask], data.y[mask], ways, shots, queries, seed=seed)


DATASET_PREFIXES["folder"] = folder_sampler
