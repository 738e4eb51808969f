"""results/ hygiene (issue #32): every entry is cited, uncited runs are records in results/archive.json, only the
runs README.md cites (or an issue names, or tests read) keep weights, and the tree stays under 40 MB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_archive_check_passes_on_the_committed_tree():
    r = subprocess.run(
        [sys.executable, "scripts/archive_results.py", "--check", "--quiet"], cwd=REPO, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "weights: 0 checkpoints" in r.stdout


def test_weights_outside_the_keep_list_are_found(monkeypatch):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import archive_results as a
    finally:
        sys.path.pop(0)
    keepers = a.weight_keepers(["omniglot-protonet-5w1s", "omniglot-mann-5class-full", "no-such-run"])
    assert keepers == {"omniglot-protonet-5w1s"}  # README.md cites the first; nothing cites the others by path
    monkeypatch.setattr(a, "WEIGHTS_EXTRA", {"omniglot-mann-5class-full": "test"})
    assert "omniglot-mann-5class-full" in a.weight_keepers(["omniglot-mann-5class-full"])
