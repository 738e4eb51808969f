"""Typed configurations, built once at the edge from a run's flat settings (a preset with ``--set`` changes, or a
saved ``config.json``): one dataclass per learner (`learners`) and the training run's settings (`run`), each field's
type checked (`typed`)."""

from .learners import LEARNER_CONFIGS, TaskShape, backbone_spec, build_learner, learner_config, task_shape
from .run import TrainConfig
from .typed import ConfigError, check_value, from_dict, parse_text, setting

__all__ = [
    "LEARNER_CONFIGS",
    "ConfigError",
    "TaskShape",
    "TrainConfig",
    "backbone_spec",
    "build_learner",
    "check_value",
    "from_dict",
    "learner_config",
    "parse_text",
    "setting",
    "task_shape",
]
