"""Meta-learners, one module per method, all on `Learner` (base.py). A module registers its learner
with ``@METHODS.register("name")``; the config key ``method`` picks it."""

from __future__ import annotations

import sys
from typing import Any

from torch import nn

from ..registry import import_submodules
from .base import METHODS, EncoderLearner, Learner, Prediction, Predictor

import_submodules(sys.modules[__name__], skip=("base",))
from .anil import ANIL  # noqa: E402
from .maml import FOMAML, MAML  # noqa: E402
from .metasgd import MetaSGD  # noqa: E402
from .protonet import ProtoNet  # noqa: E402
from .reptile import Reptile  # noqa: E402

__all__ = [
    "Learner",
    "Prediction",
    "Predictor",
    "ProtoNet",
    "MAML",
    "FOMAML",
    "MetaSGD",
    "ANIL",
    "Reptile",
    "METHODS",
    "build_learner",
]


def build_learner(cfg: dict[str, Any]) -> Learner:
    """The learner named by ``cfg["method"]``, built from the configuration (``eval_bn``: see Learner)."""
    learner = METHODS.get_or_raise(cfg["method"]).from_config(cfg)
    learner.set_eval_bn(cfg.get("eval_bn", "running"))
    learner.set_precision(cfg.get("precision", "fp32"))
    if cfg.get("freeze_encoder") or cfg.get("tta_flip"):
        if not isinstance(learner, EncoderLearner):
            raise ValueError(
                f"freeze_encoder / tta_flip apply to learners over an image encoder (EncoderLearner); "
                f"{type(learner).__name__} is not one. Leave them false."
            )
        learner.configure_encoder(cfg.get("freeze_encoder", False), cfg.get("tta_flip", False))
    if any(isinstance(m, nn.Conv2d) for m in learner.modules()):  # an image model: adapt / predict check shapes
        size = cfg.get("image_size", 28)
        learner.input_shape = (cfg.get("channels", 1), size, size)
    return learner
