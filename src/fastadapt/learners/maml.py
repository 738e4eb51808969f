"""MAML (Finn, Abbeel & Levine 2017), its first-order approximation, and the MAML++ options
(Antoniou, Edwards & Storkey 2019): learned per-layer per-step inner learning rates and the multi-step loss."""

from __future__ import annotations

from typing import Any

from torch import nn

from .base import METHODS
from .gradient import INNER_LR, GradientLearner


@METHODS.register("maml")
class MAML(GradientLearner):
    """Model-Agnostic Meta-Learning (Finn et al. 2017): meta-learn an initialization from which
    ``inner_steps`` SGD steps on a support set fit the task; exact second-order meta-gradient, or the
    first-order approximation with ``first_order=True``. MAML++ (Antoniou et al. 2019) options:
    ``lr_mode="per_layer_step"`` and ``multi_step_loss=True``. Works on any ``nn.Module``; see
    `fastadapt.learners.gradient.GradientLearner` for all arguments (BatchNorm mode, batching).

    >>> learner = MAML(my_net, inner_lr=0.4, inner_steps=1, first_order=False)
    >>> predictor = learner.adapt(support_x, support_y)      # my_net is never modified
    """


@METHODS.register("fomaml")
class FOMAML(MAML):
    """First-order MAML (Finn et al. 2017, section 5.2): MAML with the second-order terms dropped."""

    def __init__(self, module: nn.Module, inner_lr: float = INNER_LR, inner_steps: int = 1, **kwargs: Any) -> None:
        kwargs.pop("first_order", None)
        super().__init__(module, inner_lr=inner_lr, inner_steps=inner_steps, first_order=True, **kwargs)
