"""Tutorial 6: meta-reinforcement learning, MAML on a policy for 2D navigation.

MAML is model-agnostic (Finn et al. 2017): the same idea that adapts a classifier adapts a policy. Each task is a goal
in [-0.5, 0.5]^2; the agent starts at the origin, moves by at most 0.1 per step for 100 steps, and is rewarded by
minus its distance to the goal, which it does not see. From 20 episodes in a new task, one policy-gradient step
(REINFORCE with a linear baseline) must turn the meta-learned policy into one that walks to that task's goal.

    python docs/tutorials/meta_rl_2dnav.py                               # 200 meta-steps: about 15 min on 2 CPU cores
    FASTADAPT_TUTORIAL_SMALL=1 python docs/tutorials/meta_rl_2dnav.py    # 10 meta-steps, the CI setting

Files go to runs/tutorials/meta-rl/ (or $FASTADAPT_TUTORIAL_OUT/meta-rl/): the run folder and trajectories.png
(a few test goals, the paths before and after one adaptation step).
"""

from __future__ import annotations

import os
from pathlib import Path

from fastadapt.presets import apply_overrides, get_preset
from fastadapt.rl.evaluate import collect_returns
from fastadapt.rl.plots import navigation_paths
from fastadapt.tasks import build_sampler
from fastadapt.train.trainer import load_run, train

SMALL = os.environ.get("FASTADAPT_TUTORIAL_SMALL") == "1"
STEPS, TEST_TASKS = (10, 20) if SMALL else (200, 200)
OUT = Path(os.environ.get("FASTADAPT_TUTORIAL_OUT", "runs/tutorials")) / "meta-rl"

# 1. Meta-train: each step draws 20 goals; per goal, 20 episodes of the current policy feed one inner
#    policy-gradient step, 20 episodes of the adapted policy feed the outer objective (ProMP's clipped surrogate,
#    Rothfuss 2019), optimized 5 times per collection. The preset trains 3,000 steps.
cfg = apply_overrides(
    get_preset("rl-2dnav-maml"),
    [
        f"steps={STEPS}",
        f"val_every={STEPS}",
        f"ckpt_every={STEPS}",
        f"log_every={max(1, STEPS // 5)}",
        "val_episodes=20",
        f"eval_episodes={TEST_TASKS}",
        "device=cpu",
    ],
)
res = train(cfg, OUT / "run", overwrite=True, progress=False)  # = fastadapt train --preset rl-2dnav-maml --set ...
print(res["headline"])

# 2. Returns on held-out goals before adaptation and after 1, 2 and 3 policy-gradient steps (Finn 2017, Fig. 5).
learner, cfg = load_run(OUT / "run")
tasks = build_sampler(cfg, "test", None, cfg["shots"], cfg["queries"], cfg["eval_seed"])
returns, _ = collect_returns(learner, tasks, TEST_TASKS)  # [tasks, 0..3 steps]
for k, r in enumerate(returns.mean(0).tolist()):
    print(f"after {k} step{'s' * (k != 1)}: average return {r:.1f}")

# 3. Look: roll the meta-learned policy out on four test goals, take one policy-gradient step on those episodes
#    (learner.adapt), roll out the adapted policy. Observations are the agent's positions; the policy is stochastic,
#    so each panel shows the mean path of 20 episodes (thick) and three of the episodes (thin).
navigation_paths(learner, tasks.tasks(0, 4), OUT / "trajectories.png", steps=1, rollouts=cfg["shots"])
print(f"plot: {OUT / 'trajectories.png'}")
print(f"RESULT return_after_one_step={returns[:, 1].mean():.3f}")
