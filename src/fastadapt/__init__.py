"""fastadapt: meta-learning for PyTorch. Adaptation is a function from a support set to a predictor."""

from .learners import ANIL, FOMAML, MAML, Learner, MetaSGD, Prediction, Predictor, ProtoNet, Reptile
from .tasks import EpisodeSampler, Task, TaskBatch

__version__ = "0.1.0"
__all__ = [
    "ANIL",
    "FOMAML",
    "MAML",
    "MetaSGD",
    "Reptile",
    "EpisodeSampler",
    "Learner",
    "Prediction",
    "Predictor",
    "ProtoNet",
    "Task",
    "TaskBatch",
]
