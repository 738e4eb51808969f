"""Tutorial 4: uncertainty with Neural Processes on Gaussian-process regression.

A Neural Process (Garnelo et al. 2018b) adapts to a handful of (x, y) points and predicts a Gaussian at any new x:
a mean and a variance. We meta-train the `gp-np` preset on random functions drawn from a GP with an EQ kernel, then
check its uncertainty: the negative log-likelihood (NLL) of held-out points against the exact GP's, how its
predictive spread shrinks as it sees more points, and how often the truth falls inside its 90% intervals.

    python docs/tutorials/neural_processes.py                               # 4,000 steps: about 3 min on 2 CPU cores
    FASTADAPT_TUTORIAL_SMALL=1 python docs/tutorials/neural_processes.py    # 150 steps, the CI setting: seconds

Files go to runs/tutorials/neural-processes/ (or $FASTADAPT_TUTORIAL_OUT/neural-processes/): the run folder and
fits.png (model mean, 95% band and function samples against the exact GP posterior).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from fastadapt.presets import apply_overrides, get_preset
from fastadapt.tasks import build_sampler
from fastadapt.tasks.gp import GPTasks, kernel_from_config
from fastadapt.train.trainer import load_run, train
from fastadapt.train.uncertainty import plot_gp_fits, regression_report

SMALL = os.environ.get("FASTADAPT_TUTORIAL_SMALL") == "1"
STEPS, TEST_TASKS = (150, 200) if SMALL else (4000, 2000)
OUT = Path(os.environ.get("FASTADAPT_TUTORIAL_OUT", "runs/tutorials")) / "neural-processes"

# 1. Meta-train: each step draws 16 functions, shows the NP 3-50 of their points (the context) and trains it to
#    predict the others (the targets) on the ELBO. The preset trains 40,000 steps; --set steps=... in the CLI.
cfg = apply_overrides(
    get_preset("gp-np"),
    [
        f"steps={STEPS}",
        f"val_every={STEPS}",
        f"ckpt_every={STEPS}",
        f"log_every={max(1, STEPS // 5)}",
        "val_episodes=100",
        f"eval_episodes={TEST_TASKS}",
    ],
)
res = train(cfg, OUT / "run", overwrite=True, progress=False)  # = fastadapt train --preset gp-np --set ...
print(f"test NLL per target point: {res['nll']:.3f} (MSE {res['mse']:.4f}) over {res['episodes']} unseen functions")

# 2. The yardstick: the exact GP posterior (the true prior, known here) on the same test functions.
learner, cfg = load_run(OUT / "run")
test = build_sampler(cfg, "test", None, cfg["shots"], cfg["queries"], cfg["eval_seed"])
oracle = torch.cat([-test.oracle(test.batch(i, 50))[1] for i in range(TEST_TASKS // 50)])
print(f"exact GP posterior NLL on the same kind of tasks: {oracle.mean():.3f} (the best any model can do)")

# 3. Uncertainty by hand: adapt to few or many context points of one function; the predictive variance shrinks.
kernel = kernel_from_config(cfg)
for n_context in (3, 10, 30):
    tasks = GPTasks(kernel, cfg["gp_noise"], context=n_context, targets=100, seed=7, part="test").batch(0, 64)
    with torch.no_grad():
        pred = learner.adapt(tasks.support_x, tasks.support_y).predict(tasks.query_x)  # Prediction(mean, var)
    rep = regression_report(pred, tasks.query_y)
    print(
        f"{n_context:2d} context points: predictive std (rms) {rep['mean_variance'] ** 0.5:.3f}, "
        f"NLL {-rep['log_likelihood']:.3f}, 90% intervals hold {100 * rep['coverage']['90']:.0f}% of the truth"
    )

# 4. A picture: mean, 95% band and function samples (the latent z drawn several times) against the exact GP.
few = GPTasks(kernel, cfg["gp_noise"], context=4, targets=50, seed=3, part="test").batch(0)[0]
many = GPTasks(kernel, cfg["gp_noise"], context=20, targets=50, seed=3, part="test").batch(0)[0]
plot_gp_fits(OUT / "fits.png", learner, [few, many], kernel, cfg["gp_noise"], title="gp-np")
print(f"plot: {OUT / 'fits.png'}")
print(f"RESULT neural_process_nll={res['nll']:.4f}")
