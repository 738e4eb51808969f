"""Meta-learners, one module per method, all on `Learner` (base.py). A module registers its learner
with ``@METHODS.register("name")``; the config key ``method`` picks it, and `fastadapt.configs` builds it from
its typed configuration (the learners themselves never read a configuration)."""

from __future__ import annotations

import sys

from ..registry import import_submodules
from .base import METHODS, EncoderLearner, Learner, Prediction, Predictor

import_submodules(sys.modules[__name__], skip=("base",))
from .anil import ANIL  # noqa: E402
from .gradient import GradientLearner  # noqa: E402
from .maml import FOMAML, MAML  # noqa: E402
from .metasgd import MetaSGD  # noqa: E402
from .protonet import ProtoNet  # noqa: E402
from .reptile import Reptile  # noqa: E402

__all__ = [
    "Learner",
    "Prediction",
    "Predictor",
    "GradientLearner",
    "EncoderLearner",
    "ProtoNet",
    "MAML",
    "FOMAML",
    "MetaSGD",
    "ANIL",
    "Reptile",
    "METHODS",
]
