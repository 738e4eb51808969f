"""Batched rollouts: ``N`` environments for each of ``B`` tasks, ``episodes`` consecutive episodes each, recorded as
`Trajectories` of shape ``[B, N, T]`` (``T = episodes * horizon``)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Protocol

import torch
from torch import Tensor

from ..tasks.rl_envs import BatchedEnv, action_noise
from .policies import Dist, Params, make_dist


@dataclass
class Trajectories:
    """What a batch of rollouts recorded, ``[B tasks, N rollouts, T steps, ...]``.

    ``mask`` is 1 on the steps an environment took (up to and including the one that terminated its episode);
    later steps of that episode hold zero reward and are left out of every loss. ``ends`` marks the last step of
    each episode (termination or the horizon). ``logp`` and ``dist`` are the log-probabilities and distribution
    parameters of the policy that acted (the "old" policy of importance ratios and KL penalties)."""

    obs: Tensor
    actions: Tensor
    rewards: Tensor
    mask: Tensor
    ends: Tensor
    logp: Tensor
    dist: tuple[Tensor, ...]
    horizon: int
    discrete: bool

    @property
    def episodes(self) -> int:
        return self.rewards.shape[-1] // self.horizon

    def behaviour(self) -> Dist:
        return make_dist(self.discrete, self.dist)

    def time_in_episode(self) -> Tensor:
        """``[T]``: the step index within its episode."""
        return torch.arange(self.rewards.shape[-1], device=self.rewards.device) % self.horizon

    def episode_returns(self) -> Tensor:
        """``[B, N, episodes]``: the return of each episode."""
        b, n, t = self.rewards.shape
        return (self.rewards * self.mask).view(b, n, t // self.horizon, self.horizon).sum(-1)

    def mean_return(self) -> Tensor:
        """``[B]``: each task's average episode return."""
        return self.episode_returns().mean((1, 2))

    def flat(self, x: Tensor) -> Tensor:
        """``[B, N, T, ...]`` -> ``[B, N * T, ...]`` (what a policy's ``dist`` takes)."""
        return x.reshape(x.shape[0], -1, *x.shape[3:])

    def to(self, device: torch.device | str) -> Trajectories:
        out = {
            f.name: getattr(self, f.name).to(device) for f in fields(self) if isinstance(getattr(self, f.name), Tensor)
        }
        return replace(self, dist=tuple(d.to(device) for d in self.dist), **out)


class Actor(Protocol):
    """What a rollout asks of a policy: actions for observations ``[B, N, obs_dim]`` from noise (see
    `tasks.rl_envs.action_noise`), and, for recurrent policies, what happened after them."""

    def act(self, obs: Tensor, noise: Tensor) -> tuple[Tensor, Dist]: ...

    def observe(self, action: Tensor, reward: Tensor, done: Tensor) -> None: ...


class MLPActor:
    """A feed-forward policy under ``params`` (shared, or per task ``[B, ...]``)."""

    def __init__(self, policy, params: Params) -> None:
        self.policy, self.params = policy, params

    def act(self, obs: Tensor, noise: Tensor) -> tuple[Tensor, Dist]:
        dist = self.policy.dist(self.params, obs)
        return dist.sample(noise), dist

    def observe(self, action: Tensor, reward: Tensor, done: Tensor) -> None:
        pass


@torch.no_grad()
def rollout(
    env: BatchedEnv,
    actor: Actor,
    stream: int,
    discrete: bool,
    act_dim: int,
    episodes: int = 1,
    dtype: torch.dtype = torch.float32,
    first_episode: int = 0,
) -> Trajectories:
    """Run ``episodes`` episodes of ``env.horizon`` steps in every environment of ``env``; random stream ``stream``
    (a learner uses a different one for each stage of a meta-iteration). Environments that terminate early are
    frozen (same observation, zero reward, ``mask`` 0) until the episode's horizon. ``first_episode``: the number
    of the first episode in its trial (a continued trial draws the random numbers of its later episodes)."""
    b, n = env.shape
    h = env.horizon
    obs_l, act_l, rew_l, mask_l, end_l, logp_l, dist_l = [], [], [], [], [], [], []
    steps = torch.arange(first_episode * h, (first_episode + episodes) * h, device=env.seeds.device)
    noise_all = action_noise(env.seeds, stream, steps, n, act_dim, discrete, dtype)
    for e in range(episodes):
        obs = env.reset(stream, first_episode + e)
        alive = torch.ones(b, n, dtype=torch.bool, device=obs.device)
        for t in range(h):
            step = e * h + t
            noise = noise_all[:, :, step]
            action, dist = actor.act(obs.to(dtype), noise)
            nxt, reward, term = env.step(action)
            reward = torch.where(alive, reward.to(dtype), torch.zeros((), dtype=dtype, device=reward.device))
            end = alive & term if t < h - 1 else alive.clone()
            last = (t == h - 1) | term | ~alive
            obs_l.append(obs)
            act_l.append(action)
            rew_l.append(reward)
            mask_l.append(alive.to(dtype))
            end_l.append(end)
            logp_l.append(dist.log_prob(action))
            dist_l.append(dist.state())
            actor.observe(action, reward, last)
            obs = torch.where(alive.unsqueeze(-1), nxt.to(obs.dtype), obs)
            alive = alive & ~term
    stack = lambda xs: torch.stack(xs, 2)  # noqa: E731  [B, N, T, ...]
    state = tuple(stack([s[i] for s in dist_l]) for i in range(len(dist_l[0])))
    return Trajectories(
        stack(obs_l).to(dtype),
        stack(act_l),
        stack(rew_l),
        stack(mask_l),
        stack(end_l),
        stack(logp_l),
        state,
        h,
        discrete,
    )
