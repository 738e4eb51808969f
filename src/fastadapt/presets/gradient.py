"""Presets of the gradient-based learners.

Sinusoid (Finn 2017, section 5.1; Li 2017, Table 1): MLP 40-40 ReLU, K support and K query points per task,
meta-batch 25, inner SGD lr 0.01 with one step, Adam 1e-3 for 70,000 iterations; tested with one inner step on
1,000 tasks (100 query points each).

Omniglot (Finn 2017, appendix B.1; vinyals split, Conv4 with 64 filters, 28x28): 5-way: 1 inner step of lr 0.4
in training and 3 at test, meta-batch 32; 20-way: 5 steps of lr 0.1, meta-batch 16; Adam 1e-3; K query
examples per class in training. The paper trains 60,000 iterations; these presets use a CPU budget (about
30 minutes on 2 cores, see benchmarks/maml_omniglot.py) and `--set steps=60000` restores the paper's.
"""

from . import NO_DECAY, episodes, register, schedule

GRAD = {
    "inner_lr": 0.4,
    "inner_steps": 1,
    "test_inner_steps": 3,
    "first_order": False,
    "bn": "transductive",
    "batching": "auto",
    "task_chunk": 0,  # task_chunk 0: the whole meta-batch in one vmap call
    "lr_mode": "fixed",
    "multi_step_loss": False,
    "msl_anneal": 10000,
}
TESTING = dict(val_episodes=200, eval_episodes=1000)
SINUSOID = dict(dataset="sinusoid", **schedule(70000, 1e-3, NO_DECAY, 500, 5000, 5000, meta_batch=25, **TESTING))

for _method, _paper in (("maml", "MAML (Finn 2017)"), ("metasgd", "Meta-SGD (Li 2017)")):
    for _k in (5, 10, 20):
        register(
            f"sinusoid-{_method}-{_k}shot",
            f"{_paper}, sinusoid regression (Finn 2017), MLP 40-40 ReLU, {_k}-shot, 1 inner step lr 0.01",
            extra={
                **GRAD,
                "inner_lr": 0.01,
                "test_inner_steps": 1,
                "mlp_hidden": 40,
                "batching": "vmap",
            },  # tiny MLP tasks: vmap beats a Python loop over 25 tasks
            method=_method,
            **episodes(None, _k, _k, queries=100),
            **SINUSOID,
        )

# Meta-iterations that fit about 30 minutes on 2 CPU cores (second-order MAML; the others are cheaper per
# iteration but get the same count so methods compare at equal data).
CPU_STEPS = {(5, 1): 3000, (5, 5): 1500, (20, 1): 1000, (20, 5): 500}
OMNI = {
    5: {"inner_lr": 0.4, "inner_steps": 1, "test_inner_steps": 3, "meta_batch": 32},
    20: {"inner_lr": 0.1, "inner_steps": 5, "test_inner_steps": 5, "meta_batch": 16},
}
METHODS = {
    "maml": ("MAML (Finn 2017), second order", {}),
    "fomaml": ("first-order MAML (Finn 2017)", {"first_order": True}),
    "anil": ("ANIL (Raghu 2020), head-only inner loop", {}),
    "metasgd": ("Meta-SGD (Li 2017), learned per-parameter inner lrs", {}),
    "mamlpp": (
        "MAML++ options (Antoniou 2019): per-layer per-step learned lrs, multi-step loss",
        {"lr_mode": "per_layer_step", "multi_step_loss": True, "msl_anneal": 1000},
    ),
    "reptile": (
        "Reptile (Nichol 2018), 5 inner SGD steps lr 0.1 on the support set, 10 at test",
        {"inner_steps": 5, "test_inner_steps": 10, "inner_lr": 0.1},
    ),
}

for _name, (_desc, _extra) in METHODS.items():
    for _w in (5, 20):
        for _k in (1, 5):
            o = OMNI[_w]
            _inner = {k: o[k] for k in ("inner_lr", "inner_steps", "test_inner_steps")}
            register(
                f"omniglot-{_name}-{_w}w{_k}s",
                f"{_desc}; Omniglot vinyals 28x28, Conv4 64 filters, {_w}-way {_k}-shot; CPU budget "
                f"of {CPU_STEPS[(_w, _k)]} meta-iterations (paper: 60,000)",
                extra={**GRAD, **_inner, **_extra},
                method="maml" if _name == "mamlpp" else _name,
                **episodes(_w, _k, _k),
                **schedule(CPU_STEPS[(_w, _k)], 1e-3, NO_DECAY, 50, 250, 250, meta_batch=o["meta_batch"], **TESTING),
            )
