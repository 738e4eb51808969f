"""Run the hostile-input matrix (tests/hostile_cases.py) and write docs/reliability.md from what the cases observe.

    FASTADAPT_DATA=../shared/data .venv/bin/python scripts/reliability_matrix.py        # all cases, writes the doc
    .venv/bin/python scripts/reliability_matrix.py --only ckpt-nan-weights --no-write   # one case, prints it

Exit status 1 when a case that is not marked open observes something other than what it expects."""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from hostile_cases import CASES, CATEGORIES, Case, Ctx, Outcome, available, run_case, verdict  # noqa: E402

COMMAND = "FASTADAPT_DATA=../shared/data .venv/bin/python scripts/reliability_matrix.py"

INTRO = f"""# Reliability: the hostile-input matrix

What fastadapt does with what a careless or hostile user hands it: broken archives and odd photos, unsafe or damaged
checkpoints, impossible configurations, occupied run folders, bad tensors at the Python API, full disks and
interrupted writes. Each row is one case of `tests/hostile_cases.py`, performed in a fresh temporary folder; the
**observed** column is what this run of the cases saw (the error line of the CLI, or the exception of the API), not a
hand-written promise. `tests/test_hostile_matrix.py` asserts every case in CI (the whole file runs in seconds on
one core: tiny synthetic photos and archives, untrained Conv4 run folders, and trainings of two Omniglot steps).

A **clear error** is:

* CLI (`fastadapt ...`, run in-process through `fastadapt.cli.main`): exit code 2 (130 for Ctrl-C) and one line
  `fastadapt <command>: error: ...` on stderr that names what was wrong, with **no `Traceback`**. (argparse prints its
  usage line before that line; the table shows the error line.) Exit code 1 with a traceback is reserved for bugs.
* API (the library called from Python): a `ValueError` (or `TypeError` for a wrong dtype, `OSError` for the machine)
  or one of fastadapt's own error classes (`CheckpointError`, `DataSetError`, `ArchiveError`, `ImageFolderError`),
  whose message names what was wrong; never NaN predictions or a torch-internal error.

The expected message must contain the quoted text. A **correct result** means the command or call succeeds and the
case checks the result (pixels decoded, files kept, log repaired). Some cases also check that nothing was damaged on
the way (an old run left untouched, no temporary file left, no pickle executed, `--out` not created).

Re-run and regenerate this page: `{COMMAND}`
(Omniglot cases need `omniglot/` under `$FASTADAPT_DATA`, one case `flowers102-partial/`; without them they are listed
as skipped). One case: add `--only ID --no-write`.
"""


def shorten(text: str, replace: dict[str, str], limit: int = 200) -> str:
    for old, new in replace.items():
        if old:
            text = text.replace(old, new)
    text = re.sub(r"0x[0-9a-f]{6,}", "0x…", re.sub(r"\s+", " ", text)).strip()  # no memory addresses
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text.replace("|", "\\|")


def run_all(cases: list[Case], data_root: Path | None, tmp: Path) -> list[tuple[Case, Outcome | None, str, float]]:
    ctx = Ctx(tmp, data_root)
    rows = []
    for case in cases:
        why = available(case, data_root)
        if why:
            rows.append((case, None, f"skipped: {why}", 0.0))
            continue
        t = time.perf_counter()
        out = run_case(case, ctx)
        ok, reason = verdict(case, out)
        status = "pass" if ok else ("open" if case.open else "FAIL")
        rows.append((case, out, status if ok or case.open else f"{status}: {reason}", time.perf_counter() - t))
        print(f"{status:4s} {time.perf_counter() - t:5.1f}s {case.id}: {out.summary()[:160]}", flush=True)
    return rows


def document(rows: list[tuple[Case, Outcome | None, str, float]], replace: dict[str, str]) -> str:
    counts = {c: sum(1 for case, *_ in rows if case.category == c) for c in CATEGORIES}
    passed = sum(1 for *_, s, _ in rows if s == "pass")
    opened = [(case, s) for case, _, s, _ in rows if case.open]
    skipped = sum(1 for *_, s, _ in rows if s.startswith("skipped"))
    lines = [
        INTRO,
        "## Summary",
        "",
        f"{len(rows)} cases: " + ", ".join(f"{n} {c}" for c, n in counts.items()) + ". "
        f"{passed} observed what they expect, {len(opened)} open, {skipped} skipped"
        f", {len(rows) - passed - len(opened) - skipped} failing.",
        "",
    ]
    if opened:
        lines += ["Open (known problems, listed here and not asserted in CI):", ""]
        lines += [f"* `{case.id}`: {case.open}" for case, _ in opened] + [""]
    found = [case for case, *_ in rows if case.found]
    if found:
        lines += ["Bugs these cases found, fixed in `src/` with a clear message (what happened before the fix):", ""]
        lines += [f"* `{case.id}`: {case.found}" for case in found] + [""]
    lines += [
        "## Cases",
        "",
        "| id | category | what the user does | expected | observed | status |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for case, out, status, _ in rows:
        observed = out.summary() if out is not None else "-"
        if out is not None and out.kind == "ok":
            observed = f"{'exit 0' if out.code == 0 else 'returned'}: {out.message}"
        cells = [
            f"`{case.id}`",
            case.category,
            shorten(case.action, replace),
            shorten(case.expected(), replace),
            shorten(observed, replace),
            shorten(status.split(":")[0] if status.startswith("FAIL") else status, replace, 80),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(REPO / "docs" / "reliability.md"))
    p.add_argument("--only", nargs="*", help="run only these case ids")
    p.add_argument("--no-write", action="store_true", help="print the outcomes, do not write the document")
    a = p.parse_args(argv)
    env = os.environ.get("FASTADAPT_DATA")
    data_root = Path(env) if env else (REPO.parent / "shared" / "data")
    data_root = data_root if data_root.is_dir() else None
    cases = [c for c in CASES if not a.only or c.id in a.only]
    if a.only and len(cases) != len(a.only):
        p.error(f"unknown case ids: {sorted(set(a.only) - {c.id for c in CASES})}")
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fastadapt-hostile-") as tmp:
        rows = run_all(cases, data_root, Path(tmp))
        replace = {
            str(Path(tmp).resolve()): "<tmp>",
            tmp: "<tmp>",
            str(data_root.resolve()) if data_root else "": "<data>",
            str(data_root) if data_root else "": "<data>",
            str(Path.home()): "~",
        }
        text = document(rows, replace)
    failing = [(c.id, s) for c, _, s, _ in rows if s.startswith("FAIL")]
    print(f"{len(rows)} cases in {time.perf_counter() - t:.0f} s; failing: {len(failing)}")
    for cid, s in failing:
        print(f"  {cid}: {s}")
    if not a.no_write and not a.only:
        Path(a.out).write_text(text)
        print(f"wrote {a.out}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
