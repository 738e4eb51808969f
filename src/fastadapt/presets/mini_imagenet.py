"""mini-ImageNet (Vinyals 2016; Ravi & Larochelle 2017 split), 84x84 colour, tested 5-way 1-shot and 5-shot with 15
queries: ``mini-imagenet-<method>-5w<K>s``.

ProtoNet follows Snell et al. (2017): Conv4, Adam 1e-3 halved every 2,000 episodes, trained 20-way 5-shot with 15
queries (their 5-shot setting; they train 1-shot models 30-way 1-shot). The CPU presets are a budget: 7,000
episodes, about 2 hours on 2 CPU cores with the encoder in bfloat16 (``precision=bf16``, weights in fp32);
``max_train_seconds`` caps the wall time at 2 hours whatever the machine. One model serves both shot counts.
Input standardization: per-channel mean / std of the train split's images (`tasks.image_sets.channel_stats`)."""
from . import register

MEAN = [0.4715, 0.4495, 0.4054]
STD = [0.2721, 0.2645, 0.2778]
COLOUR = {"dataset": "mini-imagenet", "split": "ravi", "image_size": 84, "channels": 3,
          "input_mean": MEAN, "input_std": STD}
PROTONET = {"train_ways": 20, "train_shots": 5, "train_queries": 15, "steps": 7000, "lr": 1e-3,
            "lr_decay_every": 2000, "val_every": 500, "val_episodes": 300, "ckpt_every": 100, "log_every": 50,
            "eval_episodes": 1000, "max_train_seconds": 7200.0, "precision": "bf16"}

for _k in (1, 5):
    register(f"mini-imagenet-protonet-5w{_k}s",
             f"ProtoNet (Snell 2017), Conv4, mini-ImageNet 84x84; trained 20-way 5-shot 15 queries "
             f"(7,000 episodes, <= 2 h on 2 CPU cores, bf16 encoder), tested 5-way {_k}-shot",
             ways=5, shots=_k, **COLOUR, **PROTONET)

# The pre-training baseline (Chen 2019; Tian 2020): supervised 64-way classification on class-balanced batches of
# 128 train images (2 per class) with the RFS augmentation, Adam 1e-3 halved every 6,000 steps, 24,000 steps
# capped at 2 hours on 2 CPU cores; tested with cosine prototypes of L2-normalized features.
BASELINE = {"method": "baseline", "train_ways": 64, "train_shots": 1, "train_queries": 1, "augment": "natural",
            "steps": 24000, "lr": 1e-3, "lr_decay_every": 6000, "val_every": 1000, "val_episodes": 300,
            "ckpt_every": 200, "log_every": 100, "eval_episodes": 1000, "max_train_seconds": 7200.0,
            "precision": "bf16"}
for _k in (1, 5):
    register(f"mini-imagenet-baseline-5w{_k}s",
             f"Pre-training baseline (Chen 2019 / Tian 2020), Conv4, mini-ImageNet 84x84: 64-way supervised "
             f"training with augmentation (<= 2 h on 2 CPU cores, bf16 encoder), cosine prototypes; tested 5-way "
             f"{_k}-shot", extra={"baseline_head": "linear", "baseline_test_head": "prototype", "baseline_scale": 10.0},
             ways=5, shots=_k, **COLOUR, **BASELINE)
