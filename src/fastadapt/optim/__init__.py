"""Learning to optimize (Andrychowicz 2016; Metz 2020; Harrison 2022): learned update rules, their
meta-training by truncated backpropagation through unrolled optimization, optimizee task families,
tuned hand-designed baselines, and `LearnedOptimizer`, a drop-in `torch.optim.Optimizer`:

    fastadapt train --preset l2o-quadratic --out runs/l2o-q      # meta-train, then compare with tuned baselines
    fastadapt eval runs/l2o-q                                    # redo the comparison (eval.json, curve plots)

    opt = fastadapt.optim.LearnedOptimizer(model.parameters(), weights="runs/l2o-q")
    opt.zero_grad(); loss.backward(); opt.step()
"""

from .learned import LearnedOptimizer, load_rule
from .preprocess import preprocess_gradient
from .rules import LSTMRule, MLPRule, UpdateRule, build_rule

__all__ = ["LSTMRule", "LearnedOptimizer", "MLPRule", "UpdateRule", "build_rule", "load_rule", "preprocess_gradient"]
