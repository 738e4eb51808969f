"""fastadapt: meta-learning for PyTorch. Adaptation is a function from a support set to a predictor."""
from .learners import Learner, Prediction, Predictor, ProtoNet
from .tasks import EpisodeSampler, Task, TaskBatch

__version__ = "0.1.0"
__all__ = ["EpisodeSampler", "Learner", "Prediction", "Predictor", "ProtoNet", "Task", "TaskBatch"]
