"""VERSA (Gordon 2019) on Omniglot (vinyals, 28x28, Conv4 features): trained on the same 60-way episodes and
CPU-budget schedule as the ProtoNet presets (so accuracy and ECE compare at equal training data), with
L = 10 Monte Carlo draws in training and 100 at test. ``versa_prototype_init`` starts the weight means
at the ProtoNet-equivalent linear classifier (see learners/versa.py); set it false for the paper's plain amortizer.
One model per shot serves 5-way and 20-way testing."""

from . import register
from .omniglot_protonet import CPU_BUDGET

for _w in (5, 20):
    for _k in (1, 5):
        register(
            f"omniglot-versa-{_w}w{_k}s",
            f"VERSA / ML-PIP (Gordon 2019), Conv4, Omniglot vinyals 28x28; trained 60-way {_k}-shot, "
            f"tested {_w}-way {_k}-shot",
            method="versa",
            ways=_w,
            shots=_k,
            train_shots=_k,
            extra={"versa_hidden": 256, "versa_samples": 10, "versa_eval_samples": 100, "versa_prototype_init": True},
            **CPU_BUDGET[_k],
        )
