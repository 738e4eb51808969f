"""Policies for meta-RL, run functionally so that adapted ("fast") weights may carry a leading task dimension:
``params[name]`` is either the module's own tensor (shared by all tasks) or a ``[B, ...]`` stack of per-task
copies, and ``dist(params, obs)`` takes observations ``[B, M, obs_dim]``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Params = dict[str, Tensor]
LOG_2PI = math.log(2 * math.pi)


class Gaussian:
    """A diagonal Gaussian over actions: ``mean [..., A]``, ``log_std`` broadcastable to it."""

    def __init__(self, mean: Tensor, log_std: Tensor) -> None:
        self.mean, self.log_std = mean, log_std.expand_as(mean)

    def sample(self, noise: Tensor) -> Tensor:
        return self.mean + self.log_std.exp() * noise

    def log_prob(self, a: Tensor) -> Tensor:
        z = (a - self.mean) * torch.exp(-self.log_std)
        return -0.5 * (z * z).sum(-1) - self.log_std.sum(-1) - 0.5 * self.mean.shape[-1] * LOG_2PI

    def entropy(self) -> Tensor:
        return (self.log_std + 0.5 * (1 + LOG_2PI)).sum(-1)

    def kl(self, other: Gaussian) -> Tensor:
        """KL(self || other), summed over action dimensions."""
        var, ovar = torch.exp(2 * self.log_std), torch.exp(2 * other.log_std)
        return (other.log_std - self.log_std + (var + (self.mean - other.mean) ** 2) / (2 * ovar) - 0.5).sum(-1)

    def state(self) -> tuple[Tensor, ...]:
        return self.mean, self.log_std

    def detach(self) -> Gaussian:
        return Gaussian(self.mean.detach(), self.log_std.detach())


class Categorical:
    """A categorical distribution over ``K`` actions from ``logits [..., K]``; sampled by inverse CDF from one
    uniform number per draw."""

    def __init__(self, logits: Tensor) -> None:
        self.logits = logits - logits.logsumexp(-1, keepdim=True)

    def sample(self, u: Tensor) -> Tensor:
        cdf = self.logits.exp().cumsum(-1)
        return (cdf < u.unsqueeze(-1) * cdf[..., -1:]).sum(-1).clamp(max=self.logits.shape[-1] - 1)

    def log_prob(self, a: Tensor) -> Tensor:
        return self.logits.gather(-1, a.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> Tensor:
        return -(self.logits.exp() * self.logits).sum(-1)

    def kl(self, other: Categorical) -> Tensor:
        return (self.logits.exp() * (self.logits - other.logits)).sum(-1)

    def state(self) -> tuple[Tensor, ...]:
        return (self.logits,)

    def detach(self) -> Categorical:
        return Categorical(self.logits.detach())


Dist = Gaussian | Categorical


def make_dist(discrete: bool, state: tuple[Tensor, ...]) -> Dist:
    return Categorical(state[0]) if discrete else Gaussian(*state)


def linear(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """``x [B, M, in]`` through a linear layer whose weight is shared (``[out, in]``) or per task (``[B, out, in]``)."""
    if w.dim() == 2:
        return F.linear(x, w, b)
    return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))


class MLPPolicy(nn.Module):
    """An MLP policy (Finn 2017: two hidden layers of 100 ReLU units): a Gaussian with a learned state-independent
    log standard deviation (initial std ``init_std``, as rllab's GaussianMLPPolicy) for continuous actions, or a
    categorical over ``act_dim`` actions."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: tuple[int, ...] = (100, 100),
        discrete: bool = False,
        init_std: float = 1.0,
    ) -> None:
        super().__init__()
        if any(h < 1 for h in hidden) or obs_dim < 1 or act_dim < 1:
            raise ValueError(
                f"Layer widths must be positive, got obs_dim={obs_dim}, hidden={hidden}, act_dim={act_dim}."
            )
        if not discrete and not (init_std > 0 and math.isfinite(init_std)):
            raise ValueError(f"init_std must be a positive number, got {init_std}.")
        sizes = [obs_dim, *hidden, act_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        for layer in self.layers:  # Glorot-uniform weights, zero biases (rllab)
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.obs_dim, self.act_dim, self.discrete = obs_dim, act_dim, discrete
        if not discrete:
            self.log_std = nn.Parameter(torch.full((act_dim,), math.log(init_std)))

    def params(self) -> Params:
        return dict(self.named_parameters())

    def dist(self, params: Params, obs: Tensor) -> Dist:
        """The action distribution at observations ``obs [B, M, obs_dim]`` under ``params`` (shared or per task)."""
        x, n = obs, len(self.layers)
        for i in range(n):
            x = linear(x, params[f"layers.{i}.weight"], params[f"layers.{i}.bias"])
            if i < n - 1:
                x = torch.relu(x)
        if self.discrete:
            return Categorical(x)
        log_std = params["log_std"]
        return Gaussian(x, log_std.unsqueeze(-2) if log_std.dim() == 2 else log_std)
