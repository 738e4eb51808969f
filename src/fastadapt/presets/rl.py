"""Meta-RL presets (issue #30; `fastadapt.learners.maml_rl`, `fastadapt.learners.rl2`, `fastadapt.tasks.rl_envs`).

2D navigation (Finn, Abbeel & Levine 2017, section 5.3 and appendix A.2): policy MLP 100-100 ReLU (Gaussian,
learned std), one inner policy-gradient step of lr 0.1 on 20 rollouts per task (horizon 100), 0.05 for the test
steps after the first, 20 tasks per meta-batch, discount 0.99, linear feature baseline. Finn meta-trains with TRPO;
these presets use ProMP's clipped objective with Adam 1e-3 and 5 optimization
epochs per collection (`learners.maml_rl` says why). Key meanings here: ``meta_batch`` tasks per meta-iteration,
``shots`` rollouts per task for each adaptation step (RL^2: trials per task), ``queries`` rollouts of the adapted
policy in meta-training, ``steps`` trainer steps (= Adam steps; ``outer_epochs`` of them per meta-iteration),
``eval_episodes`` / ``val_episodes`` held-out tasks.

Budgets: about 20 minutes of training from the CPU time per step measured on one thread, so about 30 minutes of
wall time on 2 shared CPU cores (benchmarks/rl_2dnav.py reports what they took); the evaluation (200 test tasks,
before and after 1-3 steps) adds about a minute.

Baselines of Finn's Fig. 5: ``rl-2dnav-pretrained`` (one policy trained on all tasks, ``inner_steps=0``, then
fine-tuned by the same test-time steps), ``rl-2dnav-random`` (``steps=0``: the random initialization fine-tuned),
``rl-2dnav-oracle`` (the goal as an input, no adaptation needed). ``rl-bandit-*``: Duan 2016's Bernoulli bandits
(5 arms), minutes to train, for tests. HalfCheetah (needs the extra ``rl``): Finn's velocity / direction tasks,
horizon 200, 40 tasks x 20 rollouts in Finn's setup; MuJoCo is stepped one environment at a time (about 80% of a
meta-iteration), so the 30-minute CPU budget is 160 meta-iterations of 20 tasks x 10 rollouts: a reduced setting,
not a reproduction.
"""

from typing import Any

from . import NO_DECAY, episodes, register, schedule

MAML_RL = {
    "policy_layers": 2,
    "init_std": 1.0,
    "inner_lr": 0.1,
    "later_inner_lr": 0.05,
    "inner_steps": 1,
    "first_order": False,
    "outer_epochs": 5,
    "clip_eps": 0.3,
    "kl_coef": 5e-4,
    "gamma": 0.99,
    "gae_lambda": 1.0,
    "eval_steps": 3,
    "rl_oracle": False,
    "horizon": 0,
    "bandit_arms": 5,
}
RL2 = {
    "init_std": 1.0,
    "rl2_episodes": 3,
    "outer_epochs": 4,
    "clip_eps": 0.2,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "vf_coef": 0.5,
    "ent_coef": 0.0,
    "reward_scale": 0.1,
    # the previous reward as the GRU reads it: 2D navigation's rewards differ by hundredths from step to step, which
    # the GRU did not pick up at 0.1x (episode returns stuck at -41 after 3,000 steps); at 10x it hill-climbs
    "reward_input_scale": 10.0,
    "rl_oracle": False,
    "horizon": 0,
    "bandit_arms": 5,
}


def rl_tasks(rollouts: int, hidden: int, eval_tasks: int, val_tasks: int) -> dict[str, Any]:
    """Keys shared by every meta-RL preset (ways: no classes): ``rollouts`` per task for each adaptation step and of
    the adapted policy, 20 tasks per meta-iteration, a policy of width ``hidden``, and ``eval_tasks`` / ``val_tasks``
    held-out tasks."""
    tasks = episodes(None, rollouts, rollouts, queries=rollouts)
    return dict(meta_batch=20, hidden=hidden, eval_episodes=eval_tasks, val_episodes=val_tasks, **tasks)


NAV = dict(dataset="rl-2dnav", **rl_tasks(20, 100, 200, 40))
# Trainer steps = 600 meta-iterations x 5 epochs: 0.43 s of CPU per step (one thread, measured) is 21 minutes,
# plus validation and the final test.
NAV_STEPS = 3000
NAV_MAML = dict(method="maml-rl", **schedule(NAV_STEPS, 1e-3, NO_DECAY, 25, 100, 250), **NAV)

register(
    "rl-2dnav-maml",
    "MAML-RL (Finn 2017), 2D navigation, 1 policy-gradient step (lr 0.1) on 20 rollouts, "
    "ProMP clipped outer objective with Adam, 600 meta-iterations x 5 epochs (CPU budget)",
    extra=MAML_RL,
    **NAV_MAML,
)
register(
    "rl-2dnav-pretrained",
    "Finn 2017 Fig. 5 baseline: one policy trained on all 2D navigation tasks "
    "(clipped objective, no inner step), fine-tuned at test by policy-gradient steps",
    extra={**MAML_RL, "inner_steps": 0},
    **NAV_MAML,
)
register(
    "rl-2dnav-random",
    "Finn 2017 Fig. 5 baseline: a randomly initialized policy fine-tuned by policy-gradient steps (no meta-training)",
    extra=MAML_RL,
    **{**NAV_MAML, "steps": 0},
)
register(
    "rl-2dnav-oracle",
    "Finn 2017 Fig. 5 oracle: a policy given the goal as input, trained on all 2D navigation tasks (clipped objective)",
    extra={**MAML_RL, "inner_steps": 0, "rl_oracle": True},
    **NAV_MAML,
)
# RL^2: 0.41 s of CPU per trainer step (GRU 64, 20 tasks x 10 trials of 300 steps): 3000 steps are 21 minutes.
register(
    "rl-2dnav-rl2",
    "RL^2 (Duan 2016), 2D navigation: GRU 64 over trials of 3 episodes, PPO (Adam 3e-3) with "
    "4 epochs per collection of 10 trials x 20 tasks, 750 collections (CPU budget)",
    extra=RL2,
    method="rl2",
    **schedule(3000, 3e-3, NO_DECAY, 20, 100, 200),
    **{**NAV, "hidden": 64, "shots": 10, "train_shots": 10},
)

BANDIT = dict(dataset="rl-bandit", **rl_tasks(20, 32, 200, 50))
register(
    "rl-bandit-maml",
    "MAML-RL on 5-armed Bernoulli bandits (Duan 2016 task family), one pull per "
    "episode, 1 policy-gradient step on 20 pulls; trains in about a minute",
    extra={**MAML_RL, "policy_layers": 1, "inner_lr": 0.5, "later_inner_lr": 0.5, "outer_epochs": 2},
    method="maml-rl",
    **schedule(100, 1e-3, NO_DECAY, 10, 20, 50),
    **BANDIT,
)
register(
    "rl-bandit-rl2",
    "RL^2 (Duan 2016) on 5-armed Bernoulli bandits, trials of 10 pulls, 300 collections "
    "(about half a minute of CPU; RL^2 needs many more to approach Duan's numbers)",
    extra={
        **RL2,
        "rl2_episodes": 10,
        "outer_epochs": 2,
        "gamma": 1.0,
        "gae_lambda": 0.3,
        "ent_coef": 0.01,
        "reward_scale": 1.0,
        "reward_input_scale": 1.0,
    },
    method="rl2",
    **schedule(600, 3e-3, NO_DECAY, 10, 20, 100),
    **{**BANDIT, "hidden": 64, "shots": 16, "train_shots": 16},
)

# HalfCheetah: 2.9 s of CPU per meta-iteration of 10 tasks x 10 rollouts of 200 steps with 2 epochs (82% of it in
# MuJoCo, one environment at a time); 20 tasks x 10 rollouts with 5 epochs is about 7.3 s, so 160 meta-iterations
# (800 trainer steps) are about 20 minutes.
CHEETAH_RUN = dict(method="maml-rl", **schedule(800, 1e-3, NO_DECAY, 10, 50, 100), **rl_tasks(10, 100, 40, 10))
for _kind, _what in (("vel", "goal velocity in [0, 2]"), ("dir", "forward or backward")):
    _common = dict(dataset=f"rl-cheetah-{_kind}", **CHEETAH_RUN)
    register(
        f"rl-cheetah-{_kind}-maml",
        f"MAML-RL (Finn 2017), HalfCheetah {_what} (needs the extra rl), horizon "
        f"200; CPU budget: 20 tasks x 10 rollouts, 160 meta-iterations x 5 epochs (Finn: 40 tasks x 20 "
        f"rollouts, TRPO)",
        extra=MAML_RL,
        **_common,
    )
    # Finn 2017 Fig. 5's fine-tuning baselines on the same tasks and budget (no oracle: these families do not show
    # the goal to the policy)
    register(
        f"rl-cheetah-{_kind}-pretrained",
        f"Finn 2017 Fig. 5 baseline: one policy trained on all HalfCheetah {_what} tasks (clipped objective, no "
        f"inner step, same budget as MAML), fine-tuned at test by policy-gradient steps",
        extra={**MAML_RL, "inner_steps": 0},
        **_common,
    )
    register(
        f"rl-cheetah-{_kind}-random",
        f"Finn 2017 Fig. 5 baseline: a randomly initialized policy fine-tuned by policy-gradient steps on HalfCheetah "
        f"{_what} (no meta-training)",
        extra=MAML_RL,
        **{**_common, "steps": 0},
    )
