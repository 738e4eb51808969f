"""The code style is checked, not argued: `ruff check` (pycodestyle, pyflakes, import order, bugbear, pyupgrade) and
`ruff format --check` pass on the whole repository (settings in pyproject.toml; ruff is pinned in the test extra)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ruff") is None, reason="ruff is not installed (pip install -e '.[test]')"
)


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_ruff_is_clean(command):
    proc = subprocess.run([sys.executable, "-m", "ruff", *command, "."], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, f"ruff {' '.join(command)} found:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}"
