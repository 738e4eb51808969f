"""Reptile (Nichol, Achiam & Schulman 2018): a first-order meta-learner with its own outer update."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..tasks.task import TaskBatch
from .base import METHODS
from .gradient import GradientLearner, task_vmap

REPTILE_INNER_LR = 0.1  # the default of the constructor and of a configuration without inner_lr


@METHODS.register("reptile")
class Reptile(GradientLearner):
    """Reptile (Nichol et al. 2018): run ``inner_steps`` SGD steps on each task's support set to ``phi_b``, then
    move the initialization towards the mean of the adapted weights. `meta_loss` returns the surrogate
    ``0.5 * mean_b ||theta - phi_b||^2`` (``phi`` detached), whose gradient ``theta - mean_b phi_b`` is the
    Reptile update direction; with plain SGD at learning rate ``eps`` it is exactly
    ``theta <- theta + eps * (mean_b phi_b - theta)``. Evaluation adapts with ``test_inner_steps`` steps."""

    def __init__(
        self,
        module: nn.Module,
        inner_lr: float = REPTILE_INNER_LR,
        inner_steps: int = 5,
        adapt: Callable[[str], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("first_order", None)
        super().__init__(module, inner_lr=inner_lr, inner_steps=inner_steps, first_order=True, adapt=adapt, **kwargs)

    def adapted_batch(self, batch: TaskBatch, steps: int) -> dict[str, Tensor]:
        """Adapted weights of every task, stacked ``[B, ...]`` (no graph to the initialization)."""
        params = {n: p.detach() for n, p in self._params().items()}
        fn = lambda sx, sy: self.inner_loop(params, sx, sy, steps, first_order=True)[-1]  # noqa: E731
        if self._use_vmap(batch):
            return task_vmap(fn)(batch.support_x, batch.support_y)
        outs = [fn(sx, sy) for sx, sy in zip(batch.support_x, batch.support_y)]
        return {n: torch.stack([o[n] for o in outs]) for n in outs[0]}

    def backward_chunk(self, batch: TaskBatch) -> int | None:
        return None  # no meta-graph to bound: the adapted weights are computed without one

    def meta_loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        phi = self.adapted_batch(batch, self._steps())
        params = self._params()
        loss = sum(0.5 * (params[n] - phi[n].mean(0)).square().sum() for n in self.adapt_names)
        with torch.no_grad():
            qloss, out = task_vmap(lambda f, sx, qx, qy: (self._loss(o := self._query_forward(f, sx, qx), qy), o))(
                {n: phi.get(n, params[n].detach().expand(len(batch), *params[n].shape)) for n in params},
                batch.support_x,
                batch.query_x,
                batch.query_y,
            )
        metrics = {"loss": float(qloss.mean()), "reptile_step": float(loss.detach())}
        if self.task_type == "classification":
            metrics["acc"] = (out.argmax(-1) == batch.query_y).float().mean().item()
        if self.training:
            self.meta_iterations += 1
        return loss, metrics
