"""mini-ImageNet (Vinyals 2016; Ravi & Larochelle 2017 split), 84x84 colour, tested 5-way 1-shot and 5-shot with 15
queries: ``mini-imagenet-<method>-5w<K>s``.

ProtoNet follows Snell et al. (2017): Conv4, Adam 1e-3 halved every 2,000 episodes, trained 20-way 5-shot with 15
queries (their 5-shot setting; they train 1-shot models 30-way 1-shot). The CPU presets are a budget: 7,000
episodes, about 2 hours on 2 CPU cores with the encoder in bfloat16 where the CPU has AMX (``precision=auto``: bf16,
weights in fp32; fp32 on a CPU without AMX, where bf16 is emulated and about 2x slower, issue #33);
``max_train_seconds`` caps the wall time at 2 hours whatever the machine. One model serves both shot counts.
Input standardization: per-channel mean / std of the train split's images (`tasks.image_sets.channel_stats`)."""

from . import episodes, register, schedule

MEAN = [0.4715, 0.4495, 0.4054]
STD = [0.2721, 0.2645, 0.2778]
COLOUR = {
    "dataset": "mini-imagenet",
    "split": "ravi",
    "image_size": 84,
    "channels": 3,
    "input_mean": MEAN,
    "input_std": STD,
}
# The 2-hour cap on 2 CPU cores and the validation and test episodes of every mini-ImageNet preset.
CAPPED = dict(val_episodes=300, eval_episodes=1000, max_train_seconds=7200.0)
PROTONET = {
    "train_ways": 20,
    "train_shots": 5,
    "train_queries": 15,
    **schedule(7000, 1e-3, 2000, 50, 100, 500, precision="auto", **CAPPED),
}

for _k in (1, 5):
    register(
        f"mini-imagenet-protonet-5w{_k}s",
        f"ProtoNet (Snell 2017), Conv4, mini-ImageNet 84x84; trained 20-way 5-shot 15 queries "
        f"(7,000 episodes, <= 2 h on 2 CPU cores, bf16 encoder), tested 5-way {_k}-shot",
        ways=5,
        shots=_k,
        **COLOUR,
        **PROTONET,
    )

# The pre-training baseline (Chen 2019; Tian 2020): supervised 64-way classification on class-balanced batches of
# 128 train images (2 per class) with the RFS augmentation, Adam 1e-3 halved every 6,000 steps, 24,000 steps
# capped at 2 hours on 2 CPU cores; tested with cosine prototypes of L2-normalized features.
BASELINE = {
    "method": "baseline",
    "train_ways": 64,
    "train_shots": 1,
    "train_queries": 1,
    "augment": "natural",
    **schedule(24000, 1e-3, 6000, 100, 200, 1000, precision="auto", **CAPPED),
}
# Baseline++ (Chen 2019): the same pre-training with a cosine classifier (L2-normalized features and class weights,
# scale 10), its schedule fitted to the 2-hour cap (17,000 steps, Adam 1e-3 halved every 4,250 steps) and validated
# every 2,000 steps (300 episodes cost about a minute here).
BASELINES = {  # name: (description, classifier in training, keys)
    "baseline": (
        "Pre-training baseline (Chen 2019 / Tian 2020), Conv4, mini-ImageNet 84x84: 64-way supervised training",
        "linear",
        BASELINE,
    ),
    "baselinepp": (
        "Baseline++ (Chen 2019): pre-training with a cosine classifier, Conv4, mini-ImageNet 84x84, 64 classes",
        "cosine",
        {**BASELINE, "steps": 17000, "lr_decay_every": 4250, "val_every": 2000},
    ),
}
for _name, (_what, _head, _keys) in BASELINES.items():
    for _k in (1, 5):
        register(
            f"mini-imagenet-{_name}-5w{_k}s",
            f"{_what} with augmentation (<= 2 h on 2 CPU cores, bf16 encoder), cosine prototypes; tested 5-way "
            f"{_k}-shot",
            extra={"baseline_head": _head, "baseline_test_head": "prototype", "baseline_scale": 10.0},
            ways=5,
            shots=_k,
            **COLOUR,
            **_keys,
        )

# Every other classification learner on mini-ImageNet: its Omniglot preset's method options, the colour data set,
# 5-way training episodes with the test shot count and 15 queries (MAML's setting, Finn 2017), and the same
# 2-hour cap on 2 CPU cores. These schedules are first budgets, not tuned per method.
# The presets below derive from these (registered first); isort must not merge or drop the second line.
from . import DEFAULTS, PRESETS, get_preset  # noqa: E402, I001
from . import gradient, icl, omniglot_blackbox, omniglot_metric, omniglot_versa  # noqa: E402, F401

OTHERS = {
    "matching": "omniglot-matching-5w{k}s",
    "relation": "omniglot-relation-5w{k}s",
    "siamese": "omniglot-siamese-5w{k}s",
    "versa": "omniglot-versa-5w{k}s",
    "maml": "omniglot-maml-5w{k}s",
    "fomaml": "omniglot-fomaml-5w{k}s",
    "anil": "omniglot-anil-5w{k}s",
    "metasgd": "omniglot-metasgd-5w{k}s",
    "reptile": "omniglot-reptile-5w{k}s",
    "hypernet": "omniglot-hypernet-5w1s",
    "lstm": "omniglot-lstm-5w1s",
    "icl": "omniglot-icl-5w1s",
}
KEEP = ("description", "preset")
for _m, _source in OTHERS.items():
    for _k in (1, 5):
        _base = {k: v for k, v in get_preset(_source.format(k=_k)).items() if k not in KEEP}
        _extra = {k: v for k, v in _base.items() if k not in PROTONET and k not in COLOUR}
        _gradient = "inner_lr" in _base
        if _gradient and _m != "reptile":  # Finn 2017's mini-ImageNet setting: 32 filters, 5 steps of 0.01
            _extra.update(hidden=32, inner_lr=0.01, inner_steps=5, test_inner_steps=10, meta_batch=4 if _k == 1 else 2)
        elif _gradient:
            _extra.update(meta_batch=4)
        _precision = "fp32" if _gradient or _m == "icl" else "auto"
        _training = episodes(5, _k, 15) | schedule(20000, None, 5000, 50, 100, 500, precision=_precision, **CAPPED)
        register(
            f"mini-imagenet-{_m}-5w{_k}s",
            f"{PRESETS[_source.format(k=_k)]['description'].split(';')[0]}; mini-ImageNet 84x84, trained 5-way "
            f"{_k}-shot 15 queries (<= 2 h on 2 CPU cores), tested 5-way {_k}-shot",
            extra={k: v for k, v in _extra.items() if k not in DEFAULTS},
            **{k: v for k, v in _extra.items() if k in DEFAULTS and k not in _training},
            **COLOUR,
            **_training,
        )
