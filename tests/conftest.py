"""Shared fixtures: the real Omniglot data from ../shared/data (or $FASTADAPT_DATA)."""

from __future__ import annotations

import os
import socket
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


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails (and Hugging Face is told it is offline)."""

    def refuse(*a, **k):
        raise OSError("network access attempted in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def restore_torch_threads():
    """A test that pins torch to one thread (for speed or reproducibility) must not change the tests after it:
    their numbers, and so their margins, were measured with the default thread count."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
