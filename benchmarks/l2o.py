"""Benchmark: learned optimizers (Andrychowicz 2016) against tuned SGD / momentum / Adam / RMSprop.

Meta-trains the preset's optimizer into results/<preset>/ (or --out), then, on held-out problems, compares
final losses at the training horizon and at horizon_mult (5) times it, and on the transfer families (the
conv net for l2o-mlp-omniglot); each baseline's learning rate is tuned per family on a grid over
validation problems. Writes the trainer's results with the command, wall time and the paper's claim to
results/<preset>/benchmark.json.

    python benchmarks/l2o.py --preset l2o-quadratic                      # ~8-15 min on 1-2 CPU cores
    python benchmarks/l2o.py --preset l2o-mlp-omniglot                   # see the preset; ~1-2 h on 2 cores
    python benchmarks/l2o.py --preset l2o-quadratic --set l2o_net=mlp --out results/l2o-quadratic-mlp
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from fastadapt.presets import apply_overrides, get_preset
from fastadapt.train.l2o import train_l2o
from fastadapt.train.run_log import write_benchmark_record
from fastadapt.train.trainer import git_commit, machine

PAPER = {  # Andrychowicz et al. 2016 report curves only (no table): what they claim, per family
    "quadratic": "Fig. 2 (left): on held-out 10-d quadratics the LSTM optimizer's loss is below tuned SGD, "
    "RMSprop, ADAM and NAG over the 100 training steps (figure only, no numbers).",
    "mlp-omniglot": "Fig. 4 (MNIST, 20-unit sigmoid MLP): below tuned ADAM/RMSprop/NAG/SGD over the 100 training "
    "steps and still ahead at 200 steps; we use Omniglot-derived 10-class problems, not MNIST.",
    "conv-omniglot": "Not in the paper for this net; their Fig. 5 transfers a CIFAR optimizer to held-out "
    "CIFAR classes. Here: an MLP-trained optimizer on a conv net it never saw.",
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", required=True, choices=("l2o-quadratic", "l2o-mlp-omniglot"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default=None)
    p.add_argument("--results", default="results")
    a = p.parse_args()
    cfg = apply_overrides(get_preset(a.preset), a.set)
    out = Path(a.out or Path(a.results) / a.preset)
    if out.exists():
        shutil.rmtree(out)
    t = time.time()
    res = train_l2o(cfg, out)
    wall = time.time() - t
    H, mult = cfg["horizon"], cfg["horizon_mult"]
    headline = {}
    for fam, entry in res["families"].items():
        for h in (H, H * mult):
            r = entry[f"h{h}"]
            L = r["optimizers"]["learned"]
            headline[f"{fam}@{h}"] = {
                "learned_final": L["final_mean"],
                "learned_ci95": L["final_ci95"],
                "learned_diverged": L["diverged"],
                **{f"{n}_final": s["final_mean"] for n, s in r["optimizers"].items() if n != "learned"},
                "best_baseline": r["best_baseline"],
                "learned_below_tuned_adam": L["final_mean"] < r["optimizers"]["adam"]["final_mean"],
                "learned_below_tuned_adam_significant": r["vs_adam"]["learned_below"],
                "learned_better_on_fraction_of_problems": r["vs_adam"]["learned_better_fraction"],
                "learned_below_best_baseline": L["final_mean"] < r["optimizers"][r["best_baseline"]]["final_mean"],
                "step_ms_learned": L["ms_per_step"],
                "step_ms_adam": r["optimizers"]["adam"]["ms_per_step"],
            }
    res.update(
        command="python " + " ".join(sys.argv),
        wall_seconds=wall,
        commit=git_commit(),
        machine=machine(),
        seed=cfg["seed"],
        headline=headline,
        paper={f: PAPER.get(f, "") for f in res["families"]},
        protocol=f"{cfg['l2o_net']} optimizer meta-trained {cfg['steps']} iterations on {cfg['family']} "
        f"(horizon {H}, unroll {cfg['unroll']}); baselines tuned on {cfg['tune_problems']} val problems "
        f"per family at horizon {H}; {cfg['eval_problems']} held-out test problems; 95% CI = 1.96 SE",
    )
    write_benchmark_record(out, res)
    for k, v in headline.items():
        print(
            f"{k}: learned {v['learned_final']:.4g} +- {v['learned_ci95']:.2g} vs tuned adam {v['adam_final']:.4g}, "
            f"best baseline {v['best_baseline']} {v[v['best_baseline'] + '_final']:.4g}"
        )
    print(f"wall {wall / 60:.1f} min")


if __name__ == "__main__":
    main()
