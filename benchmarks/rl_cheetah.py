"""Benchmark: meta-RL on HalfCheetah (Finn, Abbeel & Levine 2017, section 5.3 and Fig. 5), goal velocity (``vel``)
and forward / backward (``dir``).

Trains ``rl-cheetah-<kind>-maml`` and Finn's two fine-tuning baselines (``-pretrained``: one policy trained on all
tasks; ``-random``: the random initialization) into results/<preset>/ with the one trainer, and writes
results/rl_cheetah.json and results/rl_cheetah_<kind>.png:

- per run: the average return on the preset's held-out tasks before adaptation and after 1, 2, 3 policy-gradient
  steps, each with a 95% interval over tasks, training time and steps; every run also at the constant test-time step
  size that does best on 10 validation tasks among ``--baseline-lrs`` (Finn tuned the baselines' step sizes; MAML's
  own row uses its trained steps, 0.1 then 0.05, as Finn's does, and its tuned row shows what tuning adds);
- per kind: seconds per MAML meta-iteration and the share of it spent simulating (MuJoCo steps one environment at a
  time, so one torch thread loses little: run it with OMP_NUM_THREADS=1);
- Finn's Fig. 5 values, read approximately off the figure (the paper prints none).

The presets are a CPU budget (20 tasks x 10 rollouts of 200 steps, 160 meta-iterations; Finn: 40 x 20 with TRPO),
about 13 minutes per training on this machine; both kinds about an hour. Trainings already in results/<preset>/
are reused (a stopped one resumes), so the script can be re-run to finish or to re-evaluate. ``--smoke`` runs the
whole pipeline at a toy scale into /tmp:

    OMP_NUM_THREADS=1 python benchmarks/rl_cheetah.py [--kinds vel dir]
    OMP_NUM_THREADS=1 python benchmarks/rl_cheetah.py --smoke

A longer budget, the two MAML runs side by side (one process per core), then the baselines, then the summary:

    OMP_NUM_THREADS=1 python benchmarks/rl_cheetah.py --kinds vel --methods maml --results results/cheetah-long \\
        --set steps=20000 max_train_seconds=7800 --out results/cheetah-long/rl_cheetah_vel_maml.json &
    (the same with dir; then --methods pretrained random; then every method of both kinds: summary, plots)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rl_2dnav import run_preset, simulation_share, tuned_fine_tuning

from fastadapt.rl.plots import returns_by_stage
from fastadapt.train.trainer import git_commit, machine

KINDS = ("vel", "dir")
METHODS = ("maml", "pretrained", "random")
FINN_FIG5 = {
    "source": "Finn, Abbeel & Levine 2017, Fig. 5 (half-cheetah panels), read approximately off the figure; the "
    "paper prints no numbers, and readings of the plot differ by tens of return units",
    "vel": {
        "maml": "about -130 before adaptation, about -80 after one step, a little better after 2-3",
        "pretrained": "about -160, rising to about -130",
        "oracle": "about -60",
    },
    "dir": {
        "maml": "about 0 before adaptation, a few hundred after one step",
        "pretrained": "stays far below MAML",
        "oracle": "above MAML",
    },
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=list(METHODS),
        help="train (or re-read) only these runs, e.g. the two kinds' MAML runs side by side in two processes; the "
        "speed probe and the plot need all three",
    )
    p.add_argument("--smoke", action="store_true", help="toy scale: every stage in a few minutes")
    p.add_argument("--results", default=None, help="folder of the run folders (default results/, smoke: /tmp/...)")
    p.add_argument("--out", default=None, help="the JSON summary (default <results>/rl_cheetah.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baseline-lrs", default="0.001,0.002,0.005,0.01,0.02,0.05,0.1,0.2,0.5")
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="settings for every trained preset (the random baseline stays untrained), e.g. a longer budget: "
        "--set steps=8000 max_train_seconds=5400 --results results/cheetah-long",
    )
    a = p.parse_args()
    root = Path(a.results or ("/tmp/rl_cheetah_smoke" if a.smoke else "results"))
    out_json = Path(a.out) if a.out else root / "rl_cheetah.json"
    summary: dict[str, Any] = {
        "benchmark": "benchmarks/rl_cheetah.py" + (" --smoke" if a.smoke else ""),
        "settings": a.set,
        "commit": git_commit(),
        "machine": machine(),
        "paper": FINN_FIG5,
        "runs": {},
        "speed": {},
    }
    t0 = time.time()
    lrs = [float(x) for x in a.baseline_lrs.split(",")]
    for kind in a.kinds:
        runs = {}
        for method in a.methods:
            name = f"rl-cheetah-{kind}-{method}"
            run = run_preset(name, root / name, a.smoke, a.seed, a.set)
            run["tuned_step_size"] = tuned_fine_tuning(root / name, lrs, 2 if a.smoke else 10)
            summary["runs"][name] = runs[method] = run
            stages = zip(run["stages"], run["returns"], run["returns_ci95"])
            print(f"{name}: " + "; ".join(f"{s} {m:.1f} +- {c:.1f}" for s, m, c in stages), flush=True)
        if len(runs) < len(METHODS):
            continue
        summary["speed"][kind] = simulation_share(
            f"rl-cheetah-{kind}-maml", a.smoke, a.seed, 1 if a.smoke else 2, a.set
        )
        returns_by_stage(runs, root / f"rl_cheetah_{kind}.png", f"HalfCheetah {kind}: held-out tasks (95% intervals)")
    summary["seconds"] = time.time() - t0
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(summary, indent=1))
    for kind, s in summary["speed"].items():
        print(
            f"rl-cheetah-{kind}-maml: {s['seconds_per_meta_iteration']:.2f} s per meta-iteration, simulation "
            f"{100 * s['simulation_share']:.0f}% ({s['env_steps_per_meta_iteration']:,} env steps)"
        )
    print(f"wrote {out_json}")


if __name__ == "__main__":
    main()
