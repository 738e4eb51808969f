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
