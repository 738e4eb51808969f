"""Learning to optimize (Andrychowicz 2016; Metz 2020; Harrison 2022): learned update rules, their
meta-training by truncated backpropagation through unrolled optimization, optimizee task families,
tuned hand-designed baselines, `LearnedOptimizer`, a drop-in `torch.optim.Optimizer`, and the inner-loop optimizers
of the gradient-based meta-learners (`fastadapt.optim.inner`: SGD, Meta-SGD, MAML++, a learned rule):

    fastadapt train --preset l2o-quadratic --out runs/l2o-q      # meta-train, then compare with tuned baselines
    fastadapt eval runs/l2o-q                                    # redo the comparison (eval.json, curve plots)

    opt = fastadapt.optim.LearnedOptimizer(model.parameters(), weights="runs/l2o-q")
    opt.zero_grad(); loss.backward(); opt.step()
"""

from .inner import SGD, InnerOptimizer, LearnedRuleStep, PerLayerStepSGD, PerParameterSGD
from .learned import LearnedOptimizer, load_rule
from .preprocess import preprocess_gradient
from .rules import LSTMRule, MLPRule, UpdateRule, build_rule

__all__ = [
    "SGD",
    "InnerOptimizer",
    "LSTMRule",
    "LearnedOptimizer",
    "LearnedRuleStep",
    "MLPRule",
    "PerLayerStepSGD",
    "PerParameterSGD",
    "UpdateRule",
    "build_rule",
    "load_rule",
    "preprocess_gradient",
]
