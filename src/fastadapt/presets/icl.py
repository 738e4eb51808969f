"""In-context learning presets. ``icl-linreg``: Garg et al. (2022) linear regression, scaled down for CPU
(d = 5 instead of 20, 2d = 10 context examples, a 4-layer width-64 transformer instead of GPT-2 with 12 layers
and width 256, no curriculum). ``omniglot-icl-5w1s``: Kirsch et al. (2022)-style general-purpose in-context
learning on Omniglot: Conv4 image embeddings plus label tokens, labels permuted per episode, trained 5-way
1-shot with 15 queries per class, sized like ``omniglot-protonet-5w1s`` (3,600 steps); its first attention layer
starts as a cosine soft nearest-neighbour readout (``icl_init="nn"``, one head, 16-wide label codes; the random
start, ``icl_init=default icl_dim=128 icl_heads=4 icl_label_dim=0``, learned far slower)."""

from . import episodes, register, schedule

register(
    "icl-linreg",
    "In-context transformer on noiseless linear regression (Garg 2022), d=5, 0..2d examples",
    extra={
        "linreg_dim": 5,
        "linreg_noise": 0.0,
        "icl_dim": 64,
        "icl_layers": 4,
        "icl_heads": 4,
        "icl_prefix_loss": True,
        "icl_embedder": "mlp",
        "input_dim": 5,
        "icl_embed_layers": 0,
    },
    dataset="linreg",
    method="icl",
    **episodes(None, 10, 10, queries=10),
    **schedule(3000, 1e-3, 2100, 100, 500, 500, lr_decay=0.3, meta_batch=64, val_episodes=500, eval_episodes=1000),
)

register(
    "omniglot-icl-5w1s",
    "In-context transformer over Conv4 embeddings + permuted label tokens (Kirsch 2022), Omniglot vinyals 5-way 1-shot",
    extra={
        "icl_dim": 64,
        "icl_layers": 4,
        "icl_heads": 1,
        "icl_max_ways": 5,
        "icl_embedder": "conv4",
        "icl_permute": True,
        "icl_label_dim": 16,
        "icl_init": "nn",
        "icl_nn_scale": 10.0,
    },
    method="icl",
    **episodes(5, 1, 15),
    **schedule(3600, 1e-3, 1500, lr_decay=0.5, meta_batch=8),
)
