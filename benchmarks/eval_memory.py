"""Benchmark: peak resident memory (RSS) of `fastadapt eval` on every preset; goal at most 2 GB each (issue #31).

Each preset gets an untrained run folder (``--set steps=0``, one step for a learned optimizer: same model and data
as a trained run, so the same memory), then `fastadapt eval RUN` runs in its own process and the kernel's peak RSS of
that process is read
(``os.wait4``). Evaluation works in chunks of at most 1,000 images, so peak memory does not grow with the number of
episodes: each preset is evaluated on enough episodes for at least three chunks (capped at its own ``eval_episodes``).

    python benchmarks/eval_memory.py [--presets NAME ...] [--out results/eval_memory.json]
    python benchmarks/eval_memory.py --update --presets NAME ...   # re-measure these rows of the existing file
    python benchmarks/eval_memory.py --missing                       # measure presets the file has no row for
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fastadapt.presets import PRESETS, get_preset
from fastadapt.train.trainer import git_commit, machine

LIMIT_MB = 2048
CHUNK_IMAGES = 1000


def run_measured(cmd: list[str]) -> tuple[int, float, float, str]:
    """Exit code, peak RSS (MB), wall seconds and the last stderr line of ``cmd`` run as a child process."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    return proc.returncode, usage.ru_maxrss / 1024, time.perf_counter() - t0, lines[-1] if lines else ""


def episodes_for(cfg: dict) -> int:
    if cfg.get("method") == "l2o":  # problems, optimized one at a time: memory does not grow with their count
        return 2
    shots = cfg.get("shots", 1)  # regression presets give a range such as "3-50"
    shots = int(str(shots).split("-")[-1])
    images = (cfg.get("ways") or 1) * (shots + cfg.get("queries", 15))
    return max(2, min(int(cfg.get("eval_episodes", 100)), math.ceil(3 * CHUNK_IMAGES / max(images, 1))))


def metaicl_settings(work: Path) -> list[str]:
    """The `metaicl` preset needs a local causal LM and task files: CLINC150's domains as tasks and the tiny GPT-2
    of `benchmarks/metaicl.py` (4 layers, width 128; no pretrained LM can be downloaded here). A user's larger LM
    needs more memory: about its parameter bytes on top of this."""
    from fastadapt.tasks.text_tasks import clinc150_tasks, load_tasks
    from fastadapt.text.metaicl import make_tiny_lm

    train, test = clinc150_tasks(work / "tasks")
    texts = [e[k] for t in load_tasks(work / "tasks", train + test).values() for e in t for k in ("input", "output")]
    make_tiny_lm(work / "lm", texts, n_layer=4, n_embd=128, n_head=4, n_positions=512)
    return [
        f"tasks_dir={work / 'tasks'}",
        f"train_tasks={','.join(train)}",
        f"test_tasks={','.join(test)}",
        f"model_path={work / 'lm'}",
    ]


def measure(preset: str, work: Path) -> dict:
    cfg = get_preset(preset)
    run, episodes = work / preset, episodes_for(cfg)
    fa = [sys.executable, "-m", "fastadapt"]
    steps = 1 if cfg["method"] == "l2o" else 0  # the learned-optimizer trainer takes at least one step
    sets = [f"steps={steps}", "eval_episodes=2", "device=cpu"] + (
        metaicl_settings(work) if cfg["method"] == "metaicl" else []
    )
    code, _, _, err = run_measured(
        fa + ["train", "--preset", preset, "--out", str(run)] + [x for kv in sets for x in ("--set", kv)]
    )
    row = {"preset": preset, "method": cfg.get("method"), "dataset": cfg.get("dataset"), "episodes": episodes}
    if code != 0:
        return {**row, "status": "no untrained run", "error": err}
    code, rss, secs, err = run_measured(fa + ["eval", str(run), "--episodes", str(episodes), "--device", "cpu"])
    row.update(peak_rss_mb=round(rss, 1), eval_seconds=round(secs, 1), status="ok" if code == 0 else "eval failed")
    if code != 0:
        row["error"] = err
    return row


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--presets", nargs="*", help="default: every preset")
    p.add_argument("--out", default="results/eval_memory.json")
    p.add_argument("--update", action="store_true", help="replace the --presets rows of --out, keep the others")
    p.add_argument("--missing", action="store_true", help="measure the presets that --out has no row for yet")
    a = p.parse_args()
    start, rows = time.time(), []
    if a.update or a.missing:
        update(a, start)
        return
    names = a.presets or sorted(PRESETS, key=lambda n: (get_preset(n).get("channels", 1) != 3, n))  # colour first
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rows.append(measure(name, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
            out = record(rows, names, a, start)  # after every preset: an interrupted run keeps its rows
            Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    print(
        f"max peak RSS {out['max_peak_rss_mb']} MB; over {LIMIT_MB} MB: {out['over_goal']}; "
        f"not measured: {out['not_measured']}"
    )


def update(a: argparse.Namespace, start: float) -> None:
    """Re-measure ``a.presets`` (or, with ``--missing``, every preset without a row) in the existing results file,
    writing it after every preset so an interrupted run keeps what it measured."""
    old = json.loads(Path(a.out).read_text())
    rows = {r["preset"]: r for r in old["rows"]}
    todo = [n for n in sorted(PRESETS) if n not in rows] if a.missing else list(a.presets or [])
    with tempfile.TemporaryDirectory() as tmp:  # run folders removed afterwards, as in a full run
        for name in todo:
            rows[name] = {**measure(name, Path(tmp)), "measured_at": git_commit()}
            print(json.dumps(rows[name]), flush=True)
            names = list(rows)
            a.presets = None
            out = {
                **record(list(rows.values()), names, a, start),
                "presets_total": len(PRESETS),
                "updated_by": " ".join(sys.argv),
            }
            Path(a.out).write_text(json.dumps(out, indent=1) + "\n")


def record(rows: list[dict], names: list[str], a: argparse.Namespace, start: float) -> dict:
    measured = [r for r in rows if "peak_rss_mb" in r and r["status"] == "ok"]
    return {
        "benchmark": "peak RSS of `fastadapt eval` per preset (untrained run folder, own process, os.wait4)",
        "command": "python benchmarks/eval_memory.py" + (" --presets " + " ".join(a.presets) if a.presets else ""),
        "goal_mb": LIMIT_MB,
        "max_peak_rss_mb": max((r["peak_rss_mb"] for r in measured), default=None),
        "over_goal": [r["preset"] for r in measured if r["peak_rss_mb"] > LIMIT_MB],
        "not_measured": [r["preset"] for r in rows if r["status"] != "ok"],
        "presets_done": len(rows),
        "presets_total": len(names),
        "rows": rows,
        "commit": git_commit(),
        "machine": machine(),
        "wall_seconds": round(time.time() - start, 1),
    }


if __name__ == "__main__":
    main()
