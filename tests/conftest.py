"""Shared fixtures: the real Omniglot data from ../shared/data (or $FASTADAPT_DATA)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def omniglot_root() -> Path:
    root = Path(os.environ.get("FASTADAPT_DATA", SHARED_DATA))
    if not (root / "omniglot" / "images_background.zip").exists():
        pytest.skip(f"Omniglot archives not found under {root}/omniglot; set FASTADAPT_DATA.")
    return root


@pytest.fixture(scope="session")
def data_root() -> Path:
    return omniglot_root()


@pytest.fixture(scope="session")
def omniglot(data_root):
    from fastadapt.tasks.omniglot import load_images
    return load_images(data_root)
