"""Meta-reinforcement learning (issue #30): policies, batched rollouts, policy-gradient estimators and the
evaluation of returns before and after adaptation. The task families live in `fastadapt.tasks.rl_envs`, the
learners in `fastadapt.learners.maml_rl` (MAML with a policy-gradient inner loop, and the Finn 2017 baselines)
and `fastadapt.learners.rl2` (RL^2). Layering: ``tasks < nn < rl < learners < train``; nothing here imports a
learner or the trainer."""

from __future__ import annotations

from .policies import Categorical, Gaussian, MLPPolicy
from .rollout import MLPActor, Trajectories, rollout

__all__ = ["Categorical", "Gaussian", "MLPActor", "MLPPolicy", "Trajectories", "rollout"]
