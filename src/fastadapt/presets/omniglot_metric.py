"""Siamese (Koch 2015), Matching (Vinyals 2016) and Relation (Sung 2018) networks on Omniglot (vinyals split,
28x28), each tested {5, 20}-way {1, 5}-shot: ``omniglot-<method>-<N>w<K>s``.

All three are trained on 20-way episodes with the test-time shot count (the presets of one method and shot
count share their training, so one model serves the 5-way and the 20-way preset, as
`benchmarks/metric_omniglot.py` does). Steps are sized for about 30 minutes on 2 CPU cores; the papers
train far longer (Sung et al.: 1,000,000 episodes), which `benchmarks/metric_omniglot.py --full` approaches.

Method options (``--set``): Siamese ``siamese_pairs`` (same-class and as many other-class partners per
image in each training episode); Matching ``fce`` (full context embeddings, off as in the paper's Omniglot
results), ``fce_steps``, ``cosine_scale``, ``learn_scale``; Relation ``relation_hidden`` and
``relation_probs`` ("odds": softmax over relation logits; "normalize": scores divided by their sum).
"""

from . import register

PAPERS = {
    "siamese": "Siamese network (Koch 2015), twin Conv4 + weighted-L1 head, BCE on same/different pairs",
    "matching": "Matching Networks (Vinyals 2016), Conv4, cosine attention",
    "relation": "Relation Network (Sung 2018), embedding + relation module, MSE on one-hot",
}
# Training episodes per shot count: 20 ways, queries so that 1-shot and 5-shot episodes hold 120 / 200 images.
TRAIN = {
    1: {"train_ways": 20, "train_shots": 1, "train_queries": 5},
    5: {"train_ways": 20, "train_shots": 5, "train_queries": 5},
}
# About 30 minutes on 2 CPU cores: measured ~0.25 s (1-shot) / ~0.45 s (5-shot) CPU-seconds per step on one
# thread, ~1.7x faster on two (the benchmark re-measures the step time and fits its budget).
STEPS = {
    ("siamese", 1): 8000,
    ("siamese", 5): 4500,
    ("matching", 1): 8000,
    ("matching", 5): 4500,
    ("relation", 1): 8000,
    ("relation", 5): 4000,
}
EXTRA = {
    "siamese": {"siamese_pairs": 5},
    "matching": {"fce": False, "fce_steps": 5, "cosine_scale": 10.0, "learn_scale": True},
    "relation": {"relation_hidden": 8, "relation_probs": "odds"},
}

for _m, _paper in PAPERS.items():
    for _k in (1, 5):
        _steps = STEPS[(_m, _k)]
        for _w in (5, 20):
            register(
                f"omniglot-{_m}-{_w}w{_k}s",
                f"{_paper}; Omniglot vinyals 28x28, trained 20-way {_k}-shot, tested {_w}-way {_k}-shot",
                extra=dict(EXTRA[_m]),
                method=_m,
                ways=_w,
                shots=_k,
                steps=_steps,
                lr_decay_every=max(_steps // 3, 1),
                **TRAIN[_k],
            )
