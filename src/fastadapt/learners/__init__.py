"""Meta-learners, one module per method, all on `Learner` (see base.py)."""
from __future__ import annotations

from typing import Any

from .base import Learner, Prediction, Predictor
from .protonet import ProtoNet

METHODS: dict[str, type[Learner]] = {"protonet": ProtoNet}

__all__ = ["Learner", "Prediction", "Predictor", "ProtoNet", "METHODS", "build_learner"]


def build_learner(cfg: dict[str, Any]) -> Learner:
    if cfg["method"] not in METHODS:
        raise ValueError(f"Unknown method {cfg['method']!r}; known: {sorted(METHODS)}.")
    return METHODS[cfg["method"]].from_config(cfg)
