"""Meta-SGD (Li, Zhou, Chen & Li 2017): MAML with a learned learning rate for every parameter entry."""

from __future__ import annotations

from typing import Any

from torch import nn

from .base import METHODS
from .gradient import INNER_LR, GradientLearner


@METHODS.register("metasgd")
class MetaSGD(GradientLearner):
    """Meta-SGD (Li et al. 2017): the inner update is ``theta - alpha * grad`` with ``alpha`` a meta-learned
    tensor of the parameters' shape (initialized to ``inner_lr``), trained jointly with the initialization.
    Li et al. use one inner step. Other arguments as `GradientLearner`."""

    def __init__(self, module: nn.Module, inner_lr: float = INNER_LR, inner_steps: int = 1, **kwargs: Any) -> None:
        super().__init__(module, inner_lr, inner_steps, lr_mode="per_param", **kwargs)
