"""MAML for reinforcement learning (Finn, Abbeel & Levine 2017, section 5.3) and the baselines of their Fig. 5.

Adaptation (``adapt(trajectories)``): ``inner_steps`` policy-gradient steps per task from the meta-learned policy,
each on ``shots`` rollouts of the current policy: REINFORCE with the linear feature baseline (discounted return
minus baseline, normalized per task; Finn 2017 with rllab's VPG), step size ``inner_lr`` (Finn: 0.1) and
``later_inner_lr`` for the steps after the first (Finn's appendix: 0.05 at test time). The step is taken on the
likelihood-ratio ("LVC") form of the objective, ``mean_t pi_theta(a_t|s_t) / pi_old(a_t|s_t) * A_t``, which has the
same gradient as the log-likelihood surrogate but, differentiated once more, also the score outer-product terms of
the Hessian that the log-likelihood surrogate drops (Rothfuss et al. 2019; Foerster et al. 2018): so the second-order
meta-gradient is the one of the expected return (exactly unbiased for one-step episodes, e.g. bandits; ProMP's
low-variance approximation for longer ones). ``first_order=True`` drops the second-order terms.

Outer objective: ProMP's clipped surrogate (Rothfuss, Lee, Clavera, Asfour & Abbeel 2019), trained with Adam through
the ordinary trainer. Each meta-iteration collects pre-update rollouts, adapts, collects post-update rollouts, and
then optimizes ``outer_epochs`` times over those same rollouts (each epoch is one trainer step and one Adam step):
the adapted policy is recomputed from the current meta-parameters (through the inner step, so the gradient is the
MAML meta-gradient) and scored by ``min(r A, clip(r, 1 - eps, 1 + eps) A)`` with ``r`` the ratio of the new adapted
policy to the one that collected the post-update rollouts, plus ``kl_coef`` times the KL divergence of the
pre-update policy from the one that collected (ProMP's inner trust region, here a fixed coefficient where ProMP
adapts it). Why this and not TRPO (Finn's choice): TRPO needs conjugate gradients with Hessian-vector products of the
meta-objective (third-order through the inner step) and a line search, neither of which is a step of the trainer's
optimizer; the clipped objective is a plain differentiable loss that the one trainer (Adam, checkpoints, --resume)
steps like every other learner's, ProMP reports it matching or beating TRPO-MAML on the same tasks, and several
epochs per batch of rollouts use the (simulation-bound) samples more than one policy-gradient step would. At the
first epoch of a meta-iteration the ratio is 1 and the gradient is exactly the MAML policy gradient.

Baselines (Finn 2017, Fig. 5): ``inner_steps=0`` trains one policy on all tasks with the same clipped objective
(the "pretrained" baseline; it is fine-tuned with the same policy-gradient steps at test time); a run with
``steps=0`` tests the random initialization fine-tuned ("random"); ``rl_oracle=true`` gives the policy the task's
goal as input ("oracle"; trained like the pretrained baseline).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..optim.inner import SGD, check_rate
from ..rl.pg import clipped_objective, lvc_objective, masked_mean, reinforce_advantages
from ..rl.policies import Dist, MLPPolicy, Params
from ..rl.rollout import MLPActor, Trajectories, rollout
from ..tasks.rl_envs import RLTaskBatch
from .base import METHODS, Learner

EVAL_STREAM = 1000  # random streams of evaluation rollouts (training stages use 0, 1, ...)


@dataclass
class AdaptedPolicy:
    """The policy of a batch of ``B`` tasks after ``steps`` adaptation steps: weights of ``learner.policy``, per task
    (``[B, ...]``) once adapted. ``rollout(batch)`` draws rollouts of it; ``dist(obs)`` gives its action
    distribution."""

    learner: MAMLRL
    params: Params
    steps: int

    def dist(self, obs: Tensor) -> Dist:
        return self.learner.policy.dist(self.params, obs)

    def rollout(self, batch: RLTaskBatch, rollouts: int | None = None, stream: int = 0) -> Trajectories:
        return self.learner.rollout(batch, self.params, stream, rollouts or batch.shots)


@dataclass
class _Collected:
    key: tuple
    stages: list[tuple[Trajectories, Tensor]]  # adaptation data and advantages, one per inner step
    post: Trajectories
    post_adv: Tensor
    sim_seconds: float


def check_positive(name: str, value: Any, integer: bool = False, zero: bool = False) -> None:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int if integer else (int, float))
        and math.isfinite(value)
        and (value >= 0 if zero else value > 0)
    )
    if not ok:
        what = "integer" if integer else "number"
        raise ValueError(
            f"{name} must be a {'non-negative' if zero else 'positive'} {what}, got {value!r}; set it "
            f"with --set {name}=..."
        )


@METHODS.register("maml-rl")
class MAMLRL(Learner):
    """MAML with a policy-gradient inner loop and ProMP's clipped outer objective (module docstring).

    >>> learner = MAMLRL(MLPPolicy(2, 2), inner_lr=0.1)
    >>> pre = learner.initial_policy().rollout(batch)      # batch: an RLTaskBatch (e.g. sampler.tasks(0, 10))
    >>> adapted = learner.adapt(pre)                        # one policy-gradient step per task
    >>> adapted.rollout(batch, stream=1).mean_return()      # [B] average return after adaptation
    """

    task_type = "rl"

    def __init__(
        self,
        policy: MLPPolicy,
        inner_lr: float = 0.1,
        inner_steps: int = 1,
        later_inner_lr: float | None = None,
        first_order: bool = False,
        clip_eps: float = 0.3,
        kl_coef: float = 5e-4,
        gamma: float = 0.99,
        gae_lambda: float = 1.0,
        eval_steps: int = 3,
        center_adv: bool = True,
    ) -> None:
        super().__init__()
        later_inner_lr = inner_lr if later_inner_lr is None else later_inner_lr
        for name, value in (("inner_lr", inner_lr), ("later_inner_lr", later_inner_lr), ("kl_coef", kl_coef)):
            check_positive(name, value, zero=True)
        check_positive("inner_steps", inner_steps, integer=True, zero=True)
        check_positive("eval_steps", eval_steps, integer=True, zero=True)
        check_positive("clip_eps", clip_eps)
        for name, value in (("gamma", gamma), ("gae_lambda", gae_lambda)):
            if not (isinstance(value, (int, float)) and 0 < value <= 1):
                raise ValueError(f"{name} must lie in (0, 1], got {value!r}; set it with --set {name}=...")
        self.policy = policy
        self.inner_optimizer, self.inner_steps = SGD(inner_lr, later_inner_lr), inner_steps
        self.first_order, self.clip_eps, self.kl_coef = first_order, float(clip_eps), float(kl_coef)
        self.gamma, self.gae_lambda, self.eval_steps = float(gamma), float(gae_lambda), eval_steps
        self.center_adv = center_adv
        self._cache: _Collected | None = None

    @property
    def inner_lr(self) -> float:
        """The step size of the first policy-gradient step."""
        return self.inner_optimizer.lr

    @inner_lr.setter
    def inner_lr(self, value: float) -> None:
        self.inner_optimizer.lr = check_rate("inner_lr", value)

    @property
    def later_inner_lr(self) -> float:
        """The step size of the test-time steps after the first."""
        return self.inner_optimizer.later_lr

    @later_inner_lr.setter
    def later_inner_lr(self, value: float) -> None:
        self.inner_optimizer.later_lr = check_rate("later_inner_lr", value)

    # ---- pieces --------------------------------------------------------------------------------------------------

    def _batched(self, params: Params, b: int) -> Params:
        """``params`` with a leading task dimension ``b`` (shared tensors expanded, per-task ones kept)."""
        own = dict(self.policy.named_parameters())
        return {n: p.unsqueeze(0).expand(b, *p.shape) if p.dim() == own[n].dim() else p for n, p in params.items()}

    def advantages(self, traj: Trajectories) -> Tensor:
        return reinforce_advantages(traj, self.gamma, self.gae_lambda, center=self.center_adv)

    def log_prob(self, params: Params, traj: Trajectories) -> Tensor:
        """Log-probabilities ``[B, N, T]`` of ``traj``'s actions under ``params``."""
        dist = self.policy.dist(params, traj.flat(traj.obs))
        return dist.log_prob(traj.flat(traj.actions)).view_as(traj.logp)

    def inner_step(self, fast: Params, traj: Trajectories, adv: Tensor, step: int, second_order: bool) -> Params:
        """Policy-gradient step ``step`` (0-based: its step size) per task on the LVC objective of ``traj``, taken by
        the inner optimizer as descent on the negated objective. ``second_order``: the step stays a differentiable
        function of ``fast``; else its gradient is a constant (``fast`` keeps its graph)."""
        create = second_order and torch.is_grad_enabled()
        fast = self._batched(fast, traj.rewards.shape[0])
        with torch.enable_grad():
            inputs = fast if create else {n: v.detach().requires_grad_() for n, v in fast.items()}
            loss = -lvc_objective(self.log_prob(inputs, traj), traj.logp, adv, traj.mask).sum()
            grads = torch.autograd.grad(loss, list(inputs.values()), create_graph=create)
        grads = {n: g if create else g.detach() for n, g in zip(fast, grads)}
        return self.inner_optimizer.step(fast, grads, {}, step)[0]

    def rollout(self, batch: RLTaskBatch, params: Params, stream: int, rollouts: int) -> Trajectories:
        fam, dtype = batch.family, self.policy.layers[0].weight.dtype
        return rollout(
            batch.env(rollouts), MLPActor(self.policy, params), stream, fam.discrete, fam.act_dim, dtype=dtype
        )

    # ---- Learner API ---------------------------------------------------------------------------------------------
    def initial_policy(self) -> AdaptedPolicy:
        """The meta-learned policy, before adaptation (its weights shared by all tasks)."""
        return AdaptedPolicy(self, {n: p.detach() for n, p in self.policy.params().items()}, 0)

    def adapt(self, trajectories: Trajectories, start: AdaptedPolicy | None = None) -> AdaptedPolicy:
        """One policy-gradient step per task on ``trajectories`` (rollouts ``[B, N, T]`` of ``start``, by default the
        meta-learned policy); this module is not modified."""
        if not isinstance(trajectories, Trajectories):
            raise TypeError(
                f"adapt takes the Trajectories of rollouts (e.g. policy.rollout(batch)), got "
                f"{type(trajectories).__name__}."
            )
        start = start or self.initial_policy()
        fast = self.inner_step(
            start.params, trajectories, self.advantages(trajectories), start.steps, second_order=False
        )
        return AdaptedPolicy(self, {n: v.detach() for n, v in fast.items()}, start.steps + 1)

    adapt._checked = True  # takes trajectories, not a labelled support set (see Learner)

    @torch.no_grad()
    def _collect(self, batch: RLTaskBatch) -> _Collected:
        sim = 0.0
        fast = self.initial_policy().params
        stages = []
        for k in range(self.inner_steps):
            t = time.perf_counter()
            traj = self.rollout(batch, fast, k, batch.shots)
            sim += time.perf_counter() - t
            adv = self.advantages(traj)
            stages.append((traj, adv))
            fast = self.inner_step(fast, traj, adv, k, second_order=False)
        t = time.perf_counter()
        post = self.rollout(batch, fast, self.inner_steps, batch.queries)
        sim += time.perf_counter() - t
        return _Collected(self._key(batch), stages, post, self.advantages(post), sim)

    @staticmethod
    def _key(batch: RLTaskBatch) -> tuple:
        return (batch.index, tuple(batch.seeds.tolist()), tuple(batch.params.flatten().tolist()))

    def meta_loss(self, batch: RLTaskBatch) -> tuple[Tensor, dict[str, float]]:
        """ProMP's objective on ``batch``: rollouts are collected at its epoch 0 (and whenever they are not cached,
        e.g. after --resume mid-iteration) and reused at the later epochs of the same draw."""
        fresh = batch.epoch == 0 or self._cache is None or self._cache.key != self._key(batch)
        if fresh:
            self._cache = self._collect(batch)
        data = self._cache
        theta = self.policy.params()
        fast = theta
        for k, (traj, adv) in enumerate(data.stages):
            fast = self.inner_step(fast, traj, adv, k, second_order=not self.first_order)
        post = data.post
        obj, clipped = clipped_objective(self.log_prob(fast, post), post.logp, data.post_adv, post.mask, self.clip_eps)
        loss = -obj.mean()
        metrics = {
            "return_post": float(post.mean_return().mean()),
            "clip_frac": float(clipped.mean()),
            "sim_seconds": data.sim_seconds if fresh else 0.0,
        }
        if data.stages:
            pre = data.stages[0][0]
            dist = self.policy.dist(theta, pre.flat(pre.obs))
            kl = masked_mean(pre.behaviour().kl(_flat_dist(pre, dist)).view_as(pre.logp), pre.mask).mean()
            loss = loss + self.kl_coef * kl
            metrics.update(return_pre=float(pre.mean_return().mean()), kl=float(kl.detach()))
        metrics["loss"] = float(loss.detach())
        return loss, metrics

    # ---- evaluation ----------------------------------------------------------------------------------------------
    def stage_names(self, stages: int) -> list[str]:
        """Names of the columns of `evaluate_returns`."""
        return [f"{k} step{'s' if k != 1 else ''}" for k in range(stages)]

    @property
    def score_stage(self) -> int:
        """The evaluation stage that selects checkpoints: the return after the trained number of steps."""
        return min(self.inner_steps, self.eval_steps)

    def evaluate_returns(self, batch: RLTaskBatch, steps: int | None = None) -> Tensor:
        """Average return per task ``[B, steps + 1]`` before adaptation and after each of ``steps`` (default
        ``eval_steps``) policy-gradient steps, each on ``batch.shots`` fresh rollouts of the current policy (the
        rollouts that measure stage k are the data of step k + 1)."""
        steps = self.eval_steps if steps is None else steps
        policy, out = self.initial_policy(), []
        for k in range(steps + 1):
            traj = policy.rollout(batch, stream=EVAL_STREAM + k)
            out.append(traj.mean_return())
            if k < steps:
                policy = self.adapt(traj, policy)
        return torch.stack(out, -1)


def _flat_dist(traj: Trajectories, dist: Dist) -> Dist:
    """``dist`` (over ``[B, N * T]`` observations) reshaped like ``traj``'s behaviour distribution ``[B, N, T]``."""
    from ..rl.policies import make_dist

    return make_dist(traj.discrete, tuple(s.reshape(*traj.logp.shape, s.shape[-1]) for s in dist.state()))
