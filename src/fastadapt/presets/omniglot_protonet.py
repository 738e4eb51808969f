"""Prototypical Networks on Omniglot (Snell 2017): trained 60-way with 5 queries and the test-time shot
count; Adam 1e-3 halved every 2,000 episodes until convergence. These presets are sized for a 30-minute
budget on 2 CPU cores (3,600 1-shot / 2,400 5-shot episodes, Adam 2e-3 halved every 1,000 / 800;
the rate was picked from five short GPU previews of these schedules, see results/README.md);
`benchmarks/protonet_omniglot.py --full` runs the paper's 20,000-episode schedule.
One model per shot serves both 5-way and 20-way testing."""

CPU_BUDGET = {1: {"steps": 3600, "lr_decay_every": 1000, "lr": 2e-3},
              5: {"steps": 2400, "lr_decay_every": 800, "lr": 2e-3}}
from . import register

for _w in (5, 20):
    for _k in (1, 5):
        register(f"omniglot-protonet-{_w}w{_k}s",
                 f"ProtoNet (Snell 2017), Conv4, Omniglot vinyals 28x28; trained 60-way {_k}-shot, "
                 f"tested {_w}-way {_k}-shot", ways=_w, shots=_k, train_shots=_k, **CPU_BUDGET[_k])
