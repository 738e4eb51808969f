"""Benchmark (issue #33): how a gradient learner should run its meta-batch on the CPU, one task after the other
(``batching="loop"``) or all tasks in one `torch.func.vmap` call (``"vmap"``; Conv4's convolutions then run once on
the meta-batch's images, grouped by task). For each preset: seconds per meta-iteration (the trainer's
`meta_backward` and an Adam step, median after a warm-up) and the process's peak resident memory,
each (preset, batching) in a fresh process, fp32, the preset's own training episodes. The rule that
``batching="auto"`` applies on the CPU (`fastadapt.learners.gradient.GradientLearner`) is read from this table.

    python benchmarks/maml_batching.py                                  # the presets below, ~15 min on 2 idle cores
    python benchmarks/maml_batching.py --presets omniglot-maml-5w1s --steps 2 --out /tmp/b.json   # smoke test
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

PRESETS = [
    "omniglot-maml-5w1s",
    "omniglot-maml-5w5s",
    "omniglot-maml-20w1s",
    "omniglot-maml-20w5s",
    "omniglot-fomaml-5w1s",
    "omniglot-metasgd-5w1s",
    "mini-imagenet-maml-5w1s",
    "mini-imagenet-maml-5w5s",
]


def worker(preset: str, batching: str, steps: int, threads: int) -> dict:
    import torch
    from maml_precision import seconds_per_iteration  # this script's folder is on sys.path

    from fastadapt.cpu_memory import reuse_freed_memory
    from fastadapt.presets import get_preset

    reuse_freed_memory()
    torch.set_num_threads(threads)
    seconds = seconds_per_iteration("fp32", steps, batching, preset, warmup=1)
    cfg = get_preset(preset)
    return {
        "seconds": seconds,
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "tasks": cfg["meta_batch"],
        "images_per_task": cfg["train_ways"] * (cfg["train_shots"] + cfg["train_queries"]),
        "image_shape": [cfg["channels"], cfg["image_size"], cfg["image_size"]],
        "inner_steps": cfg["inner_steps"],
        "first_order": bool(cfg.get("first_order", False)),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--presets", nargs="+", default=PRESETS)
    p.add_argument("--steps", type=int, default=3, help="timed meta-iterations after one warm-up")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="results/maml_batching.json")
    p.add_argument("--note", default="", help="what else ran on the machine, recorded in the results")
    p.add_argument("--worker", nargs=2, metavar=("PRESET", "BATCHING"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(*a.worker, a.steps, a.threads)))
        return
    from fastadapt.train.trainer import provenance

    start = time.time()
    rows = []
    for preset in a.presets:
        row = {"preset": preset}
        for batching in ("loop", "vmap"):
            cmd = [sys.executable, __file__, "--worker", preset, batching, "--steps", str(a.steps)]
            out = subprocess.run(cmd + ["--threads", str(a.threads)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            row |= {k: r[k] for k in ("tasks", "images_per_task", "image_shape", "inner_steps", "first_order")}
            row[f"{batching}_seconds"] = round(r["seconds"], 3)
            row[f"{batching}_peak_mb"] = r["peak_mb"]
        row["vmap_speedup"] = round(row["loop_seconds"] / row["vmap_seconds"], 2)
        print(json.dumps(row), flush=True)
        rows.append(row)
    result = {
        "benchmark": "gradient learners on the CPU: the meta-batch as a loop over tasks or one vmap call, fp32",
        "command": "python benchmarks/maml_batching.py " + " ".join(sys.argv[1:]),
        "rows": rows,
        "seed": 0,
        **provenance(start),
        "threads": a.threads,
        "note": a.note,
    }
    Path(a.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
