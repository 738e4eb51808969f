"""Unrolled optimization and its truncated backpropagation (Andrychowicz 2016, sec. 2): the learned rule
optimizes a problem for ``unroll`` steps; the meta-loss is the sum of the optimizee's losses after each of
those steps; then parameters and optimizer state are detached, so no graph survives a truncation, and the
next window continues from where this one stopped until the horizon is reached. As in the paper the
optimizee gradients are treated as inputs (their second derivatives are dropped) unless
``second_order=True``."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from .inner import LearnedRuleStep
from .problems import Problem
from .rules import State, UpdateRule

Params = dict[str, Tensor]


def detach(params: Params, states: dict[str, State]) -> tuple[Params, dict[str, State]]:
    """Cut the graph: fresh leaves with the same values (the truncation boundary)."""
    return (
        {k: v.detach() for k, v in params.items()},
        {k: {n: s.detach() for n, s in st.items()} for k, st in states.items()},
    )


def unroll(
    rule: UpdateRule,
    problem: Problem,
    params: Params,
    states: dict[str, State],
    t0: int,
    length: int,
    second_order: bool = False,
) -> tuple[Tensor, Params, dict[str, State], list[float]]:
    """Run ``length`` learned steps from step ``t0``. Returns the meta-loss sum_{t=t0+1}^{t0+length} f(theta_t)
    (differentiable in the rule's weights), the final parameters and states (still attached), and the
    loss values f(theta_t0), ..., f(theta_{t0+length-1}) seen by the optimizer."""
    if length <= 0:
        raise ValueError(f"unroll length must be positive, got {length}.")
    params = {k: v if v.requires_grad else v.detach().requires_grad_() for k, v in params.items()}
    terms, seen, opt = [], [], LearnedRuleStep(rule)
    for i in range(length):
        loss = problem.loss(params, t0 + i)
        if i > 0:
            terms.append(loss)
        seen.append(float(loss.detach()))
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=second_order, retain_graph=True)
        grads = {k: g if second_order else g.detach() for k, g in zip(params, grads)}
        params, states = opt.step(params, grads, states, t0 + i)
    terms.append(problem.loss(params, t0 + length))
    return torch.stack(terms).sum(), params, states, seen


def truncated_unrolls(
    rule: UpdateRule,
    problem: Problem,
    horizon: int,
    unroll_len: int,
    second_order: bool = False,
) -> Iterator[tuple[Tensor, Params, dict[str, State], list[float]]]:
    """Windows of truncated BPTT over one optimization of ``horizon`` steps: yields each window's
    (meta_loss, params, states, losses). The caller backpropagates ``meta_loss`` (and steps its
    meta-optimizer) before asking for the next window, which starts from detached copies."""
    if horizon <= 0 or unroll_len <= 0:
        raise ValueError(f"horizon and unroll length must be positive, got {horizon} and {unroll_len}.")
    params = problem.init_params()
    states = LearnedRuleStep(rule).init_state(params)
    t = 0
    while t < horizon:
        length = min(unroll_len, horizon - t)
        meta, params, states, seen = unroll(rule, problem, params, states, t, length, second_order)
        yield meta, params, states, seen
        params, states = detach(params, states)
        t += length


@torch.no_grad()
def rollout(rule: UpdateRule, problem: Problem, horizon: int) -> list[float]:
    """Losses f(theta_0..theta_horizon) of the learned rule on ``problem`` without building any graph."""
    params = problem.init_params()
    opt = LearnedRuleStep(rule)
    states = opt.init_state(params)
    out = []
    for t in range(horizon):
        with torch.enable_grad():
            leaf = {k: v.detach().requires_grad_() for k, v in params.items()}
            loss = problem.loss(leaf, t)
            grads = dict(zip(leaf, torch.autograd.grad(loss, list(leaf.values()))))
        out.append(float(loss))
        params, states = opt.step(params, grads, states, t)
    out.append(float(problem.loss(params, horizon)))
    return out
