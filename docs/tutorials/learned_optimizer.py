"""Tutorial 5: a learned optimizer (learning to optimize).

Meta-train a coordinatewise LSTM optimizer (Andrychowicz et al. 2016) on random 10-dimensional quadratics
``f(theta) = ||W theta - y||^2`` (preset `l2o-quadratic`), compare it with SGD, momentum, Adam and RMSprop tuned on
a learning-rate grid, then use it as what it is: a `torch.optim.Optimizer` in an ordinary training loop.

    python docs/tutorials/learned_optimizer.py                               # 200 meta-steps: ~4 min, 2 CPU cores
    FASTADAPT_TUTORIAL_SMALL=1 python docs/tutorials/learned_optimizer.py    # 40 short meta-steps, the CI setting

Files go to runs/tutorials/learned-optimizer/ (or $FASTADAPT_TUTORIAL_OUT/learned-optimizer/): the run folder with
results.json, summary.txt and the loss curves against the tuned baselines (curves_quadratic_h*.png).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from fastadapt.optim import LearnedOptimizer
from fastadapt.presets import apply_overrides, get_preset
from fastadapt.train.l2o import train_l2o

SMALL = os.environ.get("FASTADAPT_TUTORIAL_SMALL") == "1"
OUT = Path(os.environ.get("FASTADAPT_TUTORIAL_OUT", "runs/tutorials")) / "learned-optimizer"
REPO = Path(__file__).resolve().parents[2]
if SMALL:  # short optimizations (horizon 20, unrolled 5 steps at a time), few problems, a 3-point grid
    SETTINGS = [
        "steps=40",
        "horizon=20",
        "unroll=5",
        "horizon_mult=2",
        "val_every=20",
        "ckpt_every=20",
        "log_every=10",
        "val_problems=4",
        "eval_problems=4",
        "tune_problems=2",
        "lr_grid=0.01,0.1,1.0",
    ]
else:  # the preset's problems and 100-step horizon, fewer meta-steps than its 1,000
    SETTINGS = [
        "steps=200",
        "lr_decay_every=100",
        "val_every=50",
        "ckpt_every=50",
        "eval_problems=16",
        "tune_problems=5",
    ]

# 1. Meta-train the update rule by truncated backpropagation through unrolled optimizations, then tune the
#    baselines on validation problems and compare on held-out test problems at the training horizon and beyond.
#    The same as: fastadapt train --preset l2o-quadratic --out RUN --set steps=... (and fastadapt eval RUN).
cfg = apply_overrides(get_preset("l2o-quadratic"), SETTINGS)
run = OUT / "run"
if (run / "config.json").exists():
    import shutil

    shutil.rmtree(run)  # train_l2o refuses an existing run unless resuming
res = train_l2o(cfg, run, progress=False)
print((run / "summary.txt").read_text().strip())
H = cfg["horizon"]
learned = res["families"]["quadratic"][f"h{H}"]["optimizers"]["learned"]
adam = res["families"]["quadratic"][f"h{H}"]["optimizers"]["adam"]


# 2. Use it in plain PyTorch: LearnedOptimizer(params, weights=RUN_FOLDER) is a drop-in torch.optim.Optimizer.
def optimize(make_optimizer, steps: int, seed: int = 123) -> float:
    g = torch.Generator().manual_seed(seed)  # a fresh quadratic, never seen in meta-training
    W, y = torch.randn(10, 10, generator=g), torch.randn(10, generator=g)
    theta = torch.nn.Parameter(torch.randn(10, generator=g))
    opt = make_optimizer([theta])
    for _ in range(steps):
        opt.zero_grad()
        loss = (W @ theta - y).pow(2).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((W @ theta - y).pow(2).sum())


print(
    f"one new quadratic, {H} steps: learned optimizer {optimize(lambda p: LearnedOptimizer(p, weights=run), H):.4g}"
    f", Adam (lr {adam['lr']:.3g}, tuned) {optimize(lambda p: torch.optim.Adam(p, lr=adam['lr']), H):.4g}"
)
committed = REPO / "results" / "l2o-quadratic"  # the fully meta-trained optimizer of docs/results.md
if (committed / "best.safetensors").exists():
    full = json.loads((committed / "config.json").read_text())["horizon"]
    lr = json.loads((committed / "results.json").read_text())["families"]["quadratic"]["tuning"]["adam"]["lr"]
    print(
        f"the committed results/l2o-quadratic optimizer (1,000 meta-steps) on the same problem, {full} steps: "
        f"{optimize(lambda p: LearnedOptimizer(p, weights=committed), full):.4g}, Adam (lr {lr:.3g}, tuned) "
        f"{optimize(lambda p: torch.optim.Adam(p, lr=lr), full):.4g}"
    )

print(f"test problems, {H} steps: learned {learned['final_mean']:.4g} vs tuned Adam {adam['final_mean']:.4g}")
print(f"RESULT learned_optimizer_final_loss={learned['final_mean']:.4f}")
