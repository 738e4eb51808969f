"""Inner-loop optimizers: one functional interface for the update a fast-adaptation loop applies.

``opt.step(params, grads, state, t) -> (params, state)`` maps dicts of named tensors to new tensors (never in
place), so the step stays differentiable with respect to the parameters (second-order MAML), to the optimizer's own
weights (learned rates, learned rules) and works under `torch.func.vmap`. ``state = opt.init_state(params)`` holds
what the rule carries from step to step (nothing for SGD). Implementations:

* `SGD`: ``theta - lr * g`` (Finn, Abbeel & Levine 2017), with an optional second rate for the steps after the
  first (Finn 2017's meta-RL test steps);
* `PerParameterSGD`: a meta-learned rate for every parameter entry (Meta-SGD, Li et al. 2017);
* `PerLayerStepSGD`: a meta-learned rate per parameter tensor and step (MAML++, Antoniou et al. 2019);
* `LearnedRuleStep`: a learned update rule of `fastadapt.optim.rules` (Andrychowicz 2016; Metz 2020):
  ``theta + rule(theta, g, state, t)`` per tensor.

The gradient learners (`fastadapt.learners`) take any of them (``inner_optimizer=``), and the learned optimizers'
unrolled meta-training (`fastadapt.optim.unroll`) steps through `LearnedRuleStep`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from .rules import UpdateRule

Params = dict[str, Tensor]
State = dict[str, Any]

LR_MODES = ("fixed", "per_param", "per_layer_step")


def check_rate(name: str, lr: float) -> float:
    """``lr`` as a float, or a clear error when it is not a finite number."""
    if not isinstance(lr, (int, float)) or not math.isfinite(lr):
        raise ValueError(
            f"{name} must be a finite number, got {lr!r}; a NaN or infinite step makes every adapted weight, and "
            f"so every prediction, NaN."
        )
    return float(lr)


class InnerOptimizer(nn.Module):
    """Base class (module docstring). Subclasses with meta-learned weights register them as parameters, so the
    learner that owns the optimizer meta-trains them with everything else."""

    def init_state(self, params: Params) -> State:
        """The state before the first step (empty for the SGD variants)."""
        return {}

    def step(self, params: Params, grads: Params, state: State, t: int) -> tuple[Params, State]:
        """Parameters after step ``t`` (0-based) given their gradients; also the next state."""
        raise NotImplementedError


class SGD(InnerOptimizer):
    """Plain gradient descent ``theta - lr * g``; ``later_lr`` (default ``lr``) for the steps after the first."""

    def __init__(self, lr: float, later_lr: float | None = None) -> None:
        super().__init__()
        self.lr = check_rate("inner_lr", lr)
        self.later_lr = self.lr if later_lr is None else check_rate("later_inner_lr", later_lr)

    def step(self, params: Params, grads: Params, state: State, t: int) -> tuple[Params, State]:
        lr = self.lr if t == 0 else self.later_lr
        return {n: p - lr * grads[n] for n, p in params.items()}, state


class _LearnedRates(InnerOptimizer):
    """SGD with meta-learned rates, one tensor per named parameter, initialized to ``lr``."""

    def __init__(self, names: list[str], rates: list[Tensor], lr: float) -> None:
        super().__init__()
        self.lr = lr  # the initial value (kept for the record; the rates are what the steps use)
        self.index = {n: i for i, n in enumerate(names)}
        self.lrs = nn.ParameterList([nn.Parameter(r) for r in rates])

    def rate(self, name: str, t: int) -> Tensor:
        raise NotImplementedError

    def step(self, params: Params, grads: Params, state: State, t: int) -> tuple[Params, State]:
        return {n: p - self.rate(n, t) * grads[n] for n, p in params.items()}, state


class PerParameterSGD(_LearnedRates):
    """Meta-SGD (Li et al. 2017): ``theta - alpha * g`` with ``alpha`` a meta-learned tensor of each parameter's
    shape, elementwise."""

    def __init__(self, params: Params, lr: float) -> None:
        lr = check_rate("inner_lr", lr)
        super().__init__(list(params), [torch.full_like(p.detach(), lr) for p in params.values()], lr)

    def rate(self, name: str, t: int) -> Tensor:
        return self.lrs[self.index[name]]


class PerLayerStepSGD(_LearnedRates):
    """MAML++ (Antoniou et al. 2019, "LSLR"): a meta-learned scalar rate per parameter tensor and inner step; steps
    beyond ``steps`` reuse the last one."""

    def __init__(self, names: list[str], steps: int, lr: float) -> None:
        lr = check_rate("inner_lr", lr)
        super().__init__(list(names), [torch.full((max(steps, 1),), lr) for _ in names], lr)

    def rate(self, name: str, t: int) -> Tensor:
        rates = self.lrs[self.index[name]]
        return rates[min(t, len(rates) - 1)]


class LearnedRuleStep(InnerOptimizer):
    """A learned update rule (`fastadapt.optim.rules.UpdateRule`) on each tensor:
    ``theta + rule(theta, g, state, t)``, each tensor flattened and with its own state."""

    def __init__(self, rule: UpdateRule) -> None:
        super().__init__()
        self.rule = rule

    def init_state(self, params: Params) -> State:
        return {n: self.rule.init_state(p.reshape(-1)) for n, p in params.items()}

    def step(self, params: Params, grads: Params, state: State, t: int) -> tuple[Params, State]:
        new_p, new_s = {}, {}
        for n, p in params.items():
            delta, new_s[n] = self.rule(p.reshape(-1), grads[n].reshape(-1), state[n], t)
            new_p[n] = p + delta.view_as(p)
        return new_p, new_s


def make_inner_optimizer(lr_mode: str, params: Params, lr: float, steps: int) -> InnerOptimizer:
    """The inner optimizer a gradient learner's ``lr_mode`` names, for the parameters it adapts (``params``) and
    at most ``steps`` inner steps: ``"fixed"`` `SGD`, ``"per_param"`` `PerParameterSGD`, ``"per_layer_step"``
    `PerLayerStepSGD`."""
    if lr_mode == "fixed":
        return SGD(lr)
    if lr_mode == "per_param":
        return PerParameterSGD(params, lr)
    if lr_mode == "per_layer_step":
        return PerLayerStepSGD(list(params), steps, lr)
    raise ValueError(f"lr_mode must be one of {LR_MODES}, got {lr_mode!r}.")
