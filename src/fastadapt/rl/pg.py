"""Policy-gradient pieces shared by the meta-RL learners: discounted sums, the linear feature baseline (Duan et al.
2016's benchmark; Finn 2017 uses it), generalized advantage estimation, per-task advantage normalization, and the
surrogate objectives (the likelihood-ratio "LVC" objective of Rothfuss et al. 2019, and the clipped one of PPO /
ProMP). Every objective is a per-task mean over the steps actually taken (``mask``), shape ``[B]``."""

from __future__ import annotations

import torch
from torch import Tensor

from .rollout import Trajectories


def discount_cumsum(x: Tensor, gamma: float, segment: int | None = None) -> Tensor:
    """``y_t = sum_{k >= t} gamma^(k - t) x_k`` along the last dimension, restarting every ``segment`` steps."""
    t = x.shape[-1]
    seg = segment or t
    if t % seg:
        raise ValueError(f"{t} steps do not split into segments of {seg}.")
    i = torch.arange(seg, device=x.device)
    expo = i.view(1, -1) - i.view(-1, 1)  # [t, k]: k - t
    g = torch.where(
        expo >= 0,
        torch.tensor(gamma, dtype=torch.float64, device=x.device) ** expo.clamp(min=0),
        torch.zeros((), dtype=torch.float64, device=x.device),
    ).to(x.dtype)
    y = x.reshape(*x.shape[:-1], t // seg, seg) @ g.T
    return y.reshape(x.shape)


def gae(rewards: Tensor, values: Tensor, ends: Tensor, gamma: float, lam: float, segment: int | None = None) -> Tensor:
    """Generalized advantage estimates (Schulman et al. 2016); the value after a step in ``ends`` is 0, and sums
    restart every ``segment`` steps (an episode). With ``lam=1`` this is the discounted return minus the baseline."""
    nxt = torch.cat([values[..., 1:], torch.zeros_like(values[..., :1])], -1) * (~ends).to(values.dtype)
    return discount_cumsum(rewards + gamma * nxt - values, gamma * lam, segment)


def returns_to_go(traj: Trajectories, gamma: float) -> Tensor:
    """Discounted returns from each step to the end of its episode (0 on the steps after a termination)."""
    return discount_cumsum(traj.rewards * traj.mask, gamma, traj.horizon)


def baseline_features(traj: Trajectories) -> Tensor:
    """The linear baseline's features per step: observation (clipped to [-10, 10]) and its square, the time step
    / 100 and its square and cube, and a constant (rllab's LinearFeatureBaseline)."""
    o = traj.obs.clamp(-10, 10)
    t = (traj.time_in_episode().to(o.dtype) / 100.0).view(1, 1, -1, 1).expand(*o.shape[:3], 1)
    return torch.cat([o, o * o, t, t * t, t * t * t, torch.ones_like(t)], -1)


def linear_baseline(traj: Trajectories, targets: Tensor, reg: float = 1e-5) -> Tensor:
    """Values ``[B, N, T]`` of a linear baseline fitted per task by ridge regression of ``targets`` on
    `baseline_features` over the task's steps taken (Duan 2016; as Finn 2017, refitted on each batch)."""
    b = targets.shape[0]
    x = baseline_features(traj).to(torch.float64).reshape(b, -1, baseline_features_dim(traj))
    y = targets.to(torch.float64).reshape(b, -1, 1)
    w = traj.mask.to(torch.float64).reshape(b, -1, 1)
    xtx, xty = x.transpose(1, 2) @ (w * x), x.transpose(1, 2) @ (w * y)
    eye = torch.eye(x.shape[-1], dtype=torch.float64, device=x.device)
    for _ in range(6):  # rllab: raise the ridge until the solution is finite
        coef = torch.linalg.solve(xtx + reg * eye, xty)
        if torch.isfinite(coef).all():
            break
        reg *= 10
    return (x @ coef).reshape(targets.shape).to(targets.dtype)


def baseline_features_dim(traj: Trajectories) -> int:
    return 2 * traj.obs.shape[-1] + 4


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Per-task mean ``[B]`` of ``x [B, N, T]`` over the steps where ``mask`` is 1."""
    return (x * mask).sum((1, 2)) / mask.sum((1, 2)).clamp(min=1)


def normalize(adv: Tensor, mask: Tensor, eps: float = 1e-8) -> Tensor:
    """Advantages centred and scaled per task over its steps taken (rllab's ``center_adv``)."""
    mean = masked_mean(adv, mask).view(-1, 1, 1)
    var = masked_mean((adv - mean) ** 2, mask).view(-1, 1, 1)
    return (adv - mean) / (var.sqrt() + eps) * mask


def reinforce_advantages(traj: Trajectories, gamma: float, lam: float = 1.0, center: bool = True) -> Tensor:
    """Advantages with the linear feature baseline: discounted return minus baseline (``lam=1``, Finn 2017's
    REINFORCE) or GAE(``lam``) over the baseline's values; normalized per task when ``center``."""
    values = linear_baseline(traj, returns_to_go(traj, gamma)) * traj.mask
    adv = gae(traj.rewards * traj.mask, values, traj.ends, gamma, lam, traj.horizon) * traj.mask
    return normalize(adv, traj.mask) if center else adv


def lvc_objective(logp: Tensor, logp_old: Tensor, adv: Tensor, mask: Tensor) -> Tensor:
    """The likelihood-ratio objective ``mean_t pi(a_t|s_t) / pi_old(a_t|s_t) * A_t`` per task (Rothfuss 2019,
    "low variance curvature"): its gradient at ``pi = pi_old`` is the policy gradient, and its Hessian keeps the
    per-step score outer products that a log-likelihood surrogate drops, so a gradient step on it can be
    differentiated into a meta-gradient (exactly unbiased for one-step episodes)."""
    return masked_mean(torch.exp(logp - logp_old) * adv, mask)


def clipped_objective(logp: Tensor, logp_old: Tensor, adv: Tensor, mask: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """PPO's clipped surrogate ``mean_t min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)`` per task (ProMP's outer
    objective), and the per-task fraction of steps where the clip is active."""
    ratio = torch.exp(logp - logp_old)
    obj = torch.minimum(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv)
    clipped = ((ratio - 1).abs() > eps).to(adv.dtype)
    return masked_mean(obj, mask), masked_mean(clipped, mask)
