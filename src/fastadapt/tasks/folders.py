"""A user's own few-shot data as image folders: ``DIR/<class name>/<image files>``. Grayscale models (Omniglot)
read grayscale images with the ink bright; colour models read RGB photos of any size and format (grayscale ones are
converted), resized or centre-cropped to the model's input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

GRAYSCALE_MODES = ("1", "L", "I;16", "I")
FITS = ("stretch", "crop")


class ImageFolderError(ValueError):
    """A support or query folder is unusable."""


def _open(path: Path, size: int) -> Image.Image:
    try:
        img = Image.open(path)
        img.draft("RGB", (2 * size, 2 * size))  # JPEG: decode at reduced scale when the photo is large
        img.load()
    except Image.DecompressionBombError as e:
        raise ImageFolderError(
            f"{path} is refused as a possible decompression bomb ({e}). Use a smaller image."
        ) from None
    except (UnidentifiedImageError, OSError) as e:
        raise ImageFolderError(
            f"{path} is not a readable image ({e.__class__.__name__}). Remove it or replace it with a PNG/JPEG."
        ) from None
    return img


def eight_bit(img: Image.Image) -> Image.Image:
    """16- and 32-bit integer grayscale images (PNG modes "I;16", "I") scaled to 8-bit "L": PIL's ``convert`` clips
    them at 255, which would turn a mid-gray 16-bit photo white."""
    if not (img.mode.startswith("I;16") or img.mode == "I"):
        return img
    arr = np.asarray(img, dtype=np.float64)
    if img.mode != "I" or arr.max() > 255:
        arr = arr / 257.0
    return Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), "L")


def _fit(img: Image.Image, size: int, fit: str) -> Image.Image:
    """``stretch``: resize to ``size`` x ``size`` ignoring the aspect ratio (as mini-ImageNet was built);
    ``crop``: the largest centred square, then resize."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}.")
    if fit == "crop" and img.size[0] != img.size[1]:
        w, h = img.size
        s = min(w, h)
        img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return img if img.size == (size, size) else img.resize((size, size), Image.Resampling.LANCZOS)


def load_image(path: Path, size: int, invert: bool = True, channels: int = 1, fit: str = "stretch") -> torch.Tensor:
    """One image as ``[channels, size, size]`` floats in [0, 1]. One channel: grayscale with the ink bright like
    Omniglot's cache (``invert``), colour images refused; three channels: RGB, grayscale images converted."""
    img = eight_bit(_open(path, size))
    if channels == 1:
        if img.mode not in GRAYSCALE_MODES:
            raise ImageFolderError(
                f"{path} has image mode {img.mode!r}, but this model was trained on grayscale "
                f"images (modes {', '.join(GRAYSCALE_MODES)}). Convert it to grayscale first, "
                f"e.g. `PIL.Image.open(p).convert('L').save(p)`, or use a colour model."
            )
        arr = np.asarray(_fit(img.convert("L"), size, fit), dtype=np.float32)[None] / 255.0
        return torch.from_numpy(1.0 - arr if invert else arr)
    if channels != 3:
        raise ValueError(f"Image folders feed 1- or 3-channel models, not {channels}-channel ones.")
    arr = np.asarray(_fit(img.convert("RGB"), size, fit), dtype=np.float32).transpose(2, 0, 1) / 255.0
    return torch.from_numpy(np.ascontiguousarray(arr))


def class_folders(root: Path) -> list[str]:
    """Sorted names of the class sub-folders of ``root`` (hidden entries skipped)."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def class_tree(root: str | os.PathLike, what: str, need: str) -> dict[str, list[Path]]:
    """Class name -> sorted image files of an ImageFolder tree ``root/<class>/<files>`` (hidden entries skipped):
    at least two classes, none empty. ``what`` names the folder in errors ('Support folder'), ``need`` says what the
    use asks of it."""
    root = Path(root)
    if not root.is_dir():
        raise ImageFolderError(f"{what} {root} does not exist; expected {root}/<class name>/<images>.")
    classes = class_folders(root)
    if len(classes) < 2:
        raise ImageFolderError(f"{root} holds {len(classes)} class folder(s) ({', '.join(classes) or 'none'}); {need}")
    found = {c: _images_in(root / c) for c in classes}
    empty = [c for c, files in found.items() if not files]
    if empty:
        raise ImageFolderError(
            f"Class folder {root / empty[0]} is empty ({len(empty)} empty class folder(s) in "
            f"{root}); put images in it or remove it."
        )
    return found


def load_support_folder(
    root: str | os.PathLike, size: int, channels: int = 1, fit: str = "stretch"
) -> tuple[torch.Tensor, torch.Tensor, list[str], list[Path]]:
    """Support images ``[S, channels, size, size]``, labels ``[S]``, class names (sorted sub-folder names) and
    the image files."""
    tree = class_tree(root, "Support folder", f"a few-shot task needs at least two: {root}/<class name>/<images>.")
    classes, files, ys = list(tree), [], []
    for label, found in enumerate(tree.values()):
        files += found
        ys += [label] * len(found)
    xs = [load_image(f, size, channels=channels, fit=fit) for f in files]
    return torch.stack(xs), torch.tensor(ys), classes, files


def load_query_folder(
    root: str | os.PathLike, size: int, channels: int = 1, fit: str = "stretch"
) -> tuple[torch.Tensor, list[Path]]:
    """Query images ``[Q, channels, size, size]`` (files directly in ``root`` or in its sub-folders) and paths."""
    root = Path(root)
    if not root.is_dir():
        raise ImageFolderError(f"Query folder {root} does not exist.")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ImageFolderError(f"Query folder {root} holds no images.")
    return torch.stack([load_image(f, size, channels=channels, fit=fit) for f in files]), files
