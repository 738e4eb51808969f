"""A user's own few-shot data as image folders: ``DIR/<class name>/<image files>``."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

GRAYSCALE_MODES = ("1", "L", "I;16", "I")


class ImageFolderError(ValueError):
    """A support or query folder is unusable."""


def load_image(path: Path, size: int, invert: bool = True) -> torch.Tensor:
    """One grayscale image as ``[1, size, size]`` floats in [0, 1], ink bright like Omniglot's cache."""
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError) as e:
        raise ImageFolderError(f"{path} is not a readable image ({e.__class__.__name__}). Remove it or "
                               f"replace it with a PNG/JPEG.") from None
    if img.mode not in GRAYSCALE_MODES:
        raise ImageFolderError(f"{path} has image mode {img.mode!r}, but this model was trained on grayscale "
                               f"images (modes {', '.join(GRAYSCALE_MODES)}). Convert it to grayscale first, "
                               f"e.g. `PIL.Image.open(p).convert('L').save(p)`.")
    img = img.convert("L")
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.LANCZOS)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(1.0 - arr if invert else arr).unsqueeze(0)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def load_support_folder(root: str | os.PathLike, size: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Support images ``[S, 1, size, size]``, labels ``[S]`` and class names (sorted sub-folder names)."""
    root = Path(root)
    if not root.is_dir():
        raise ImageFolderError(f"Support folder {root} does not exist; expected {root}/<class>/<images>.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise ImageFolderError(f"{root} holds {len(classes)} class folder(s); a few-shot task needs at least "
                               f"two: {root}/<class name>/<images>.")
    xs, ys = [], []
    for label, name in enumerate(classes):
        files = _images_in(root / name)
        if not files:
            raise ImageFolderError(f"Class folder {root / name} is empty; put at least one image in it.")
        xs += [load_image(f, size) for f in files]
        ys += [label] * len(files)
    return torch.stack(xs), torch.tensor(ys), classes


def load_query_folder(root: str | os.PathLike, size: int) -> tuple[torch.Tensor, list[Path]]:
    """Query images ``[Q, 1, size, size]`` (files directly in ``root`` or in its sub-folders) and paths."""
    root = Path(root)
    if not root.is_dir():
        raise ImageFolderError(f"Query folder {root} does not exist.")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ImageFolderError(f"Query folder {root} holds no images.")
    return torch.stack([load_image(f, size) for f in files]), files
