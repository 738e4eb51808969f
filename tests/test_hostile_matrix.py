"""The hostile-input matrix in CI: every case of `hostile_cases.CASES` (broken archives and photos, unsafe checkpoints,
impossible configurations, occupied run folders, bad API inputs, full disks) observes what it expects: a clear error
(exit 2 and one `fastadapt <cmd>: error:` line without a traceback, or a ValueError-like exception with a message
naming the problem) or a correct result. `scripts/reliability_matrix.py` writes the same cases' outcomes into
docs/reliability.md."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hostile_cases import CASES, CATEGORIES, Ctx, available, run_case, verdict

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> Ctx:
    return Ctx(tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("case", [c for c in CASES if not c.open], ids=lambda c: c.id)
def test_hostile_case(case, ctx, request):
    if "omniglot" in case.needs:
        ctx.data_root = request.getfixturevalue("data_root")  # skips without the Omniglot archives
    elif case.needs:
        ctx.data_root = Path(os.environ.get("FASTADAPT_DATA", REPO.parent / "shared" / "data"))
    missing = available(case, ctx.data_root)
    if missing:
        pytest.skip(missing)
    out = run_case(case, ctx)
    ok, why = verdict(case, out)
    assert ok, f"{case.id} ({case.action}): {why}"


def test_the_matrix_covers_every_category_and_the_document_every_case():
    assert len(CASES) >= 60
    per_category = {cat: sum(c.category == cat for c in CASES) for cat in CATEGORIES}
    assert all(n >= 5 for n in per_category.values()), per_category
    doc = (REPO / "docs" / "reliability.md").read_text()
    stale = [c.id for c in CASES if f"`{c.id}`" not in doc]
    assert not stale, f"docs/reliability.md lacks {stale}: run scripts/reliability_matrix.py to regenerate it"
