"""Meta-SGD (Li, Zhou, Chen & Li 2017): MAML with a learned learning rate for every parameter entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ._inner import INNER_LR, GradientLearner, common_kwargs
from .base import METHODS
from .maml import build_network


@METHODS.register("metasgd")
class MetaSGD(GradientLearner):
    """Meta-SGD (Li et al. 2017): the inner update is ``theta - alpha * grad`` with ``alpha`` a meta-learned
    tensor of the parameters' shape (initialized to ``inner_lr``), trained jointly with the initialization.
    Li et al. use one inner step. Other arguments as `GradientLearner`."""

    def __init__(
        self,
        module: nn.Module,
        inner_lr: float = INNER_LR,
        inner_steps: int = 1,
        first_order: bool = False,
        adapt: Callable[[str], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            module,
            inner_lr=inner_lr,
            inner_steps=inner_steps,
            first_order=first_order,
            adapt=adapt,
            lr_mode="per_param",
            **kwargs,
        )

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> MetaSGD:
        return cls(build_network(cfg), first_order=cfg.get("first_order", False), **common_kwargs(cfg))
