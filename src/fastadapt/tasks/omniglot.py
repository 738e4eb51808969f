"""Omniglot (Lake, Salakhutdinov & Tenenbaum, 2015): 1,623 handwritten characters from 50 alphabets,
20 drawings each. Reads the official archives, verifies them, decodes once into a cached uint8 array,
and serves the named splits `vinyals` (Vinyals 2016; Snell 2017) and `lake` (Lake 2015)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import urllib.request
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from ..io import atomic_write_bytes

ARCHIVES = {  # name -> (official md5 of the container, alphabets, characters)
    "images_background": ("68d2efa1b9178cc56df9314c21c6e718", 30, 964),
    "images_evaluation": ("6b91aef0f799c5bb55b94e3f2daec811", 20, 659),
}
OFFICIAL_URL = "https://github.com/brendenlake/omniglot/raw/master/python/{name}.zip"
DRAWINGS = 20
_ENTRY = re.compile(r"^(images_background|images_evaluation)/([^/]+)/character(\d\d)/(\d{4})_(\d\d)\.png$")


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$FASTADAPT_DATA``, else ``~/.cache/fastadapt``."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("FASTADAPT_DATA"):
        return Path(os.environ["FASTADAPT_DATA"]).expanduser()
    return Path.home() / ".cache" / "fastadapt"


class ArchiveError(RuntimeError):
    """An Omniglot archive is missing, unsafe or does not hold what it should."""


def _safe_names(zf: zipfile.ZipFile, path: Path) -> list[str]:
    names = zf.namelist()
    for name in names:
        p = PurePosixPath(name.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", name):
            raise ArchiveError(
                f"{path}: refusing zip entry {name!r}, which would escape the target folder. "
                f"The archive is corrupt or hostile; replace it with the official one."
            )
    return names


def verify_archive(path: Path, name: str) -> list[str]:
    """Check an archive by its *contents* (alphabets, characters, 20 drawings each) and return its
    PNG entries in sorted order. Re-packed containers with other checksums are accepted."""
    _, n_alpha, n_char = ARCHIVES[name]
    try:
        with zipfile.ZipFile(path) as zf:
            names = _safe_names(zf, path)
    except zipfile.BadZipFile as e:
        raise ArchiveError(
            f"{path} is not a readable zip archive ({e}); it may be truncated. Delete it and download it again."
        ) from None
    pngs = sorted(n for n in names if n.endswith(".png"))
    per_char: dict[tuple[str, str], int] = {}
    for n in pngs:
        m = _ENTRY.match(n)
        if not m or m.group(1) != name:
            raise ArchiveError(f"{path}: unexpected entry {n!r}; expected {name}/<Alphabet>/characterNN/NNNN_MM.png.")
        per_char[(m.group(2), m.group(3))] = per_char.get((m.group(2), m.group(3)), 0) + 1
    alphabets = {a for a, _ in per_char}
    bad = {k: v for k, v in per_char.items() if v != DRAWINGS}
    if len(alphabets) != n_alpha or len(per_char) != n_char or bad:
        raise ArchiveError(
            f"{path}: found {len(alphabets)} alphabets and {len(per_char)} characters "
            f"(expected {n_alpha} and {n_char}, {DRAWINGS} drawings each"
            + (f"; {len(bad)} characters have another count" if bad else "")
            + "). The archive is incomplete; replace it with the official one."
        )
    return pngs


def _download(name: str, dest: Path) -> None:
    url = OFFICIAL_URL.format(name=name)
    md5, *_ = ARCHIVES[name]
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            data = r.read()
    except OSError as e:
        raise ArchiveError(
            f"Omniglot archive {dest.name} is missing and could not be downloaded from {url} ({e}).\n"
            f"Place the official files images_background.zip and images_evaluation.zip in {dest.parent}/ "
            f"(or point --data-root / FASTADAPT_DATA at a folder holding omniglot/<those files>)."
        ) from None
    got = hashlib.md5(data).hexdigest()
    if got != md5:
        raise ArchiveError(f"Downloaded {url} but its md5 is {got}, expected {md5}; not saving it. Try again.")
    atomic_write_bytes(dest, data)


def archive_paths(root: str | os.PathLike | None = None, download: bool = True) -> dict[str, Path]:
    """Paths of both archives under ``<root>/omniglot/``, downloading (with md5 check) what is missing."""
    folder = data_root(root) / "omniglot"
    paths = {name: folder / f"{name}.zip" for name in ARCHIVES}
    for name, p in paths.items():
        if not p.exists():
            if not download:
                raise ArchiveError(
                    f"Omniglot archive missing: {p}. Place the official {p.name} there, or allow downloading."
                )
            folder.mkdir(parents=True, exist_ok=True)
            _download(name, p)
    return paths


def _decode_archive(args: tuple[str, str, list[str], int]) -> np.ndarray:
    path, name, pngs, size = args
    out = np.empty((len(pngs), size, size), dtype=np.uint8)
    with zipfile.ZipFile(path) as zf:
        for i, n in enumerate(pngs):
            img = Image.open(io.BytesIO(zf.read(n))).convert("L")
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.LANCZOS)
            out[i] = 255 - np.asarray(img, dtype=np.uint8)  # ink = 255, background = 0
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _cache_dir(archive_folder: Path) -> Path:
    """Next to the archives when that folder is writable by its permission bits (checked by mode, since
    root ignores them), else under ``~/.cache/fastadapt``; read-only shared data is never written."""
    if archive_folder.stat().st_mode & stat.S_IWUSR:
        return archive_folder / "cache"
    return Path.home() / ".cache" / "fastadapt" / "omniglot-cache"


@dataclass
class OmniglotImages:
    """All 1,623 characters: ``images`` uint8 ``[1623, 20, size, size]`` (ink = 255) with an index of
    alphabet, within-alphabet character number, global character id and drawer per image."""

    images: np.ndarray
    alphabets: list[str]  # alphabet name per character
    character: list[int]  # characterNN within its alphabet, per character
    char_id: list[int]  # the NNNN id in the file names (1..1623), per character
    drawer: np.ndarray  # [1623, 20] drawer number (the _MM in file names)
    background: list[bool]  # True if the character is in images_background

    def index_of(self, alphabet: str, character: int) -> int:
        return self._lookup[(alphabet, character)]

    def __post_init__(self) -> None:
        self._lookup = {(a, c): i for i, (a, c) in enumerate(zip(self.alphabets, self.character))}


def load_images(root: str | os.PathLike | None = None, size: int = 28, download: bool = True) -> OmniglotImages:
    """Load the decoded image cache, building it (and fetching archives) when missing or stale."""
    if not isinstance(size, int) or size <= 0:
        raise ValueError(f"image size must be a positive integer, got {size!r}.")
    paths = archive_paths(root, download)
    cache = _cache_dir(paths["images_background"].parent)
    npy, meta_path = cache / f"omniglot-{size}px.npy", cache / f"omniglot-{size}px.json"
    fingerprint = {name: _sha256(p) for name, p in paths.items()}
    if npy.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("archives") == fingerprint:
            return _images_from(np.load(npy, mmap_mode="r"), meta)
    pngs = {name: verify_archive(p, name) for name, p in paths.items()}
    jobs = [(str(paths[n]), n, pngs[n], size) for n in ARCHIVES]
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        arrays = list(pool.map(_decode_archive, jobs))
    images = np.concatenate(arrays).reshape(-1, DRAWINGS, size, size)
    index = [_ENTRY.match(n).groups() for name in ARCHIVES for n in pngs[name]]
    meta = {
        "archives": fingerprint,
        "size": size,
        "alphabets": [m[1] for m in index[::DRAWINGS]],
        "character": [int(m[2]) for m in index[::DRAWINGS]],
        "char_id": [int(m[3]) for m in index[::DRAWINGS]],
        "drawer": [int(m[4]) for m in index],
        "background": [m[0] == "images_background" for m in index[::DRAWINGS]],
    }
    cache.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.save(buf, images)
    atomic_write_bytes(npy, buf.getvalue())
    atomic_write_bytes(meta_path, json.dumps(meta).encode())
    return _images_from(np.load(npy, mmap_mode="r"), meta)


def _images_from(images: np.ndarray, meta: dict) -> OmniglotImages:
    return OmniglotImages(
        images,
        meta["alphabets"],
        meta["character"],
        meta["char_id"],
        np.asarray(meta["drawer"]).reshape(-1, DRAWINGS),
        meta["background"],
    )


# --- Named splits -------------------------------------------------------------------------------------
# Vinyals et al. (2016) split as used by Snell et al. (2017): 1,028 train / 172 val / 423 test characters.
# Validation: five background alphabets. Test: twelve evaluation alphabets plus Gurmukhi's last four
# characters (42-45). Train: everything else (Gurmukhi 1-41 included).
VINYALS_VAL = ("Armenian", "Bengali", "Early_Aramaic", "Hebrew", "Mkhedruli_(Georgian)")
VINYALS_TEST = (
    "Kannada",
    "Keble",
    "Malayalam",
    "Manipuri",
    "Mongolian",
    "Old_Church_Slavonic_(Cyrillic)",
    "Oriya",
    "Sylheti",
    "Syriac_(Serto)",
    "Tengwar",
    "Tibetan",
    "ULOG",
)
VINYALS_SPLIT_CHAR = ("Gurmukhi", 42)  # Gurmukhi characters from 42 on are test, the rest train
SPLITS = {"vinyals": ("train", "val", "test", "trainval"), "lake": ("background", "evaluation")}


def split_characters(data: OmniglotImages, split: str = "vinyals", part: str = "train") -> list[int]:
    """Character indices (into ``data``) of one part of a named split."""
    if split not in SPLITS:
        raise ValueError(f"Unknown Omniglot split {split!r}; choose one of {sorted(SPLITS)}.")
    if part not in SPLITS[split]:
        raise ValueError(f"Split {split!r} has parts {list(SPLITS[split])}, not {part!r}.")
    if split == "lake":
        return [i for i, bg in enumerate(data.background) if bg == (part == "background")]

    def vinyals_part(i: int) -> str:
        a, c = data.alphabets[i], data.character[i]
        if a in VINYALS_VAL:
            return "val"
        if a in VINYALS_TEST or (a == VINYALS_SPLIT_CHAR[0] and c >= VINYALS_SPLIT_CHAR[1]):
            return "test"
        return "train"

    wanted = {"train", "val"} if part == "trainval" else {part}
    return [i for i in range(len(data.alphabets)) if vinyals_part(i) in wanted]


@dataclass
class ClassDataset:
    """A labelled image tensor ready for episode sampling: ``x`` uint8 ``[M, 1, H, W]``, ``y`` class per
    image, ``groups`` alphabet id per class, ``class_names`` like ``Alphabet/character07/rot090``."""

    x: torch.Tensor
    y: torch.Tensor
    groups: torch.Tensor
    class_names: list[str]
    group_names: list[str]


def omniglot_classes(
    split: str = "vinyals",
    part: str = "train",
    *,
    root: str | os.PathLike | None = None,
    size: int = 28,
    rotations: bool | None = None,
    download: bool = True,
) -> ClassDataset:
    """Classes of one split part. ``rotations`` (default: on for ``vinyals``, off for ``lake``) adds each
    character rotated by 90, 180 and 270 degrees as new classes (Santoro 2016; Vinyals 2016)."""
    data = load_images(root, size, download)
    chars = split_characters(data, split, part)
    rotations = (split == "vinyals") if rotations is None else rotations
    rots = (0, 1, 2, 3) if rotations else (0,)
    imgs = torch.from_numpy(np.ascontiguousarray(data.images[chars]))  # [C, 20, H, W]
    x = torch.stack([torch.rot90(imgs, k, dims=(2, 3)) for k in rots], dim=1)  # [C, R, 20, H, W]
    group_names = sorted({data.alphabets[i] for i in chars})
    gid = {a: j for j, a in enumerate(group_names)}
    names = [f"{data.alphabets[i]}/character{data.character[i]:02d}/rot{90 * k:03d}" for i in chars for k in rots]
    n_cls = len(names)
    return ClassDataset(
        x.reshape(n_cls * DRAWINGS, 1, size, size),
        torch.arange(n_cls).repeat_interleave(DRAWINGS),
        torch.tensor([gid[data.alphabets[i]] for i in chars]).repeat_interleave(len(rots)),
        names,
        group_names,
    )
