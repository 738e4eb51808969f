"""Benchmark: seconds per meta-training step of real presets on the CPU, with glibc's default malloc and with
`fastadapt.cpu_memory.reuse_freed_memory` (what the trainer does), each in a fresh process, interleaved over
rounds. Reports the median step time (`fastadapt.train.budget.seconds_per_step`: real Omniglot episodes,
meta-loss, backward, Adam step) and the minor page faults of the process. Writes results/cpu_allocator.json.

    python benchmarks/cpu_allocator.py                                   # ~5 min on 2 idle cores
    python benchmarks/cpu_allocator.py --presets omniglot-protonet-5w1s --rounds 1 --out /tmp/a.json   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PRESETS = (
    "omniglot-protonet-5w1s",
    "omniglot-relation-5w1s",
    "omniglot-versa-5w1s",
    "omniglot-maml-5w1s",
    "omniglot-mann-5class",
)


def worker(preset: str, timed: int) -> None:
    import resource

    from fastadapt.cpu_memory import reuse_freed_memory
    from fastadapt.presets import get_preset
    from fastadapt.train.budget import seconds_per_step

    cfg = get_preset(preset)
    cfg["device"] = "cpu"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step = seconds_per_step(cfg, warmup=2, timed=timed)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    print(json.dumps({"seconds_per_step": step, "minor_faults": faults, "reuse": reuse_freed_memory()}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", nargs="+", default=list(PRESETS))
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--timed", type=int, default=5, help="timed steps per process (after 2 warm-up steps)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="results/cpu_allocator.json")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a.worker, a.timed)
    t0, runs = time.time(), {}
    for r in range(a.rounds):
        for preset in a.presets:
            modes = ("default", "reuse") if r % 2 == 0 else ("reuse", "default")
            for mode in modes:
                env = dict(
                    os.environ,
                    OMP_NUM_THREADS=str(a.threads),
                    FASTADAPT_REUSE_FREED_MEMORY="1" if mode == "reuse" else "0",
                )
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", preset, "--timed", str(a.timed)],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                ).stdout
                res = json.loads(out.strip().splitlines()[-1])
                assert res["reuse"] == (mode == "reuse"), res
                runs.setdefault(preset, {}).setdefault(mode, []).append(res)
                print(
                    f"round {r + 1} {preset:>24} {mode:>7}: {res['seconds_per_step']:.3f} s/step, "
                    f"{res['minor_faults']} page faults",
                    flush=True,
                )
    from fastadapt.train.trainer import git_commit, machine

    rows = {}
    for preset, by_mode in runs.items():
        row = {
            m: {
                "median_seconds_per_step": statistics.median(x["seconds_per_step"] for x in v),
                "seconds_per_step": [x["seconds_per_step"] for x in v],
                "minor_faults": [x["minor_faults"] for x in v],
            }
            for m, v in by_mode.items()
        }
        row["speedup"] = row["default"]["median_seconds_per_step"] / row["reuse"]["median_seconds_per_step"]
        rows[preset] = row
    doc = {
        "command": "python " + " ".join(sys.argv),
        "seed": 0,
        "commit": git_commit(),
        "machine": machine(),
        "threads": a.threads,
        "wall_seconds": time.time() - t0,
        "protocol": f"per preset and mode, a fresh process times {a.timed} meta-training steps after 2 warm-up "
        "steps (median); modes alternate order by round; 'reuse' = fastadapt.cpu_memory on",
        "results": rows,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(doc, indent=1))
    for preset, row in rows.items():
        before, after = (row[m]["median_seconds_per_step"] for m in ("default", "reuse"))
        print(f"{preset}: {before:.3f} -> {after:.3f} s/step ({row['speedup']:.2f}x)")


if __name__ == "__main__":
    main()
