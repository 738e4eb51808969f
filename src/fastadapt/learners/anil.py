"""ANIL, Almost No Inner Loop (Raghu, Raghu, Bengio & Vinyals 2020): MAML whose inner loop adapts only the head."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from .base import METHODS
from .gradient import INNER_LR, GradientLearner, head_filter


@METHODS.register("anil")
class ANIL(GradientLearner):
    """ANIL (Raghu et al. 2020): the body is meta-trained but frozen inside the inner loop; only the head
    (by default the parameters of the last submodule that has any, e.g. the final ``nn.Linear``) adapts.
    Pass ``adapt`` (a ``name -> bool`` filter) to choose the head yourself. Other arguments as `GradientLearner`."""

    def __init__(
        self,
        module: nn.Module,
        inner_lr: float = INNER_LR,
        inner_steps: int = 1,
        adapt: Callable[[str], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(module, inner_lr, inner_steps, adapt=adapt or head_filter(module), **kwargs)
