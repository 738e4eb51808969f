"""Benchmark: wall-clock time to a validation accuracy, fastadapt against the peer libraries (issue #33).

Two races on real Omniglot (Vinyals split, 28x28, the 90-degree rotations as new classes), each implementation in
its own process, from the same initial weights, on the same training episodes, validated on the same episodes:

- ``maml``: second-order MAML as ``omniglot-maml-5w1s`` trains it (Finn 2017: Conv4 64 with BatchNorm on batch
  statistics + linear, 32 tasks of 5-way 1-shot with 1 query per class, one inner SGD step of lr 0.4, Adam 1e-3),
  fastadapt against learn2learn, higher and TorchOpt (the training step of `peers_maml.py`); target 96%.
- ``protonet``: Prototypical Networks as ``omniglot-protonet-5w1s`` trains them (Snell 2017: Conv4 64, 60-way
  1-shot episodes with 5 queries per class, Adam 2e-3 halved every 1,000 episodes), fastadapt against easyfsl;
  target 98%.

Each library trains as its users run it (its own default precision and layout: fp32 for the peers); ``fastadapt-bf16``
is fastadapt with ``precision="bf16"`` (the encoder under bfloat16 autocast, the rest fp32). Validation
is the same code for all and is not timed: every ``--val-every`` iterations, 200 fixed 5-way 1-shot episodes with 15
queries per class from the validation classes (MAML: 3 plain SGD steps of lr 0.4 from the meta-learned weights, as
the preset tests; ProtoNet: nearest class mean in Euclidean distance, BatchNorm on running statistics). The clock is
the training time up to the first validation at or above the target. Each run then reports its test accuracy on
600 test episodes (95% interval) and its peak RSS. The peers run in their own virtualenv:
``bash ../shared/peers/setup-peers-venv.sh /tmp/peers-venv`` (about 3 minutes).

    python benchmarks/time_to_accuracy.py --race maml          # ~2-3 h on 2 idle cores (four runs to 96%)
    python benchmarks/time_to_accuracy.py --race protonet      # ~30 min
    python benchmarks/time_to_accuracy.py --race maml --impls fastadapt --target 0.6 --val-every 20 --out /tmp/t.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers_maml  # noqa: E402  (the MAML training steps of every library, shared with the per-iteration benchmark)

RACES = {
    "maml": {
        "impls": ("fastadapt", "fastadapt-bf16", "learn2learn", "higher", "torchopt"),
        "target": 0.96,
        "val_every": 100,
    },
    "protonet": {"impls": ("fastadapt", "fastadapt-bf16", "easyfsl"), "target": 0.98, "val_every": 100},
}
MAML_TASKS, MAML_QUERIES, TEST_STEPS = 32, 1, 3
PROTO_WAYS, PROTO_QUERIES, PROTO_LR, PROTO_DECAY = 60, 5, 2e-3, 1000
VAL_EPISODES, TEST_EPISODES, EVAL_QUERIES = 200, 600, 15


# ---------------------------------------------------------------- worker (runs inside one process) ------
def episode(torch, images, ways: int, shots: int, queries: int, g):
    """One episode from ``images [C, 20, 28, 28]`` (uint8): classes relabelled 0..ways-1 in random order."""
    cls = torch.randperm(images.shape[0], generator=g)[:ways]
    pick = torch.stack([torch.randperm(images.shape[1], generator=g)[: shots + queries] for _ in range(ways)])
    x = images[cls.unsqueeze(1), pick].float().div_(255.0).unsqueeze(2)  # [N, K+Q, 1, 28, 28]
    y = torch.arange(ways).unsqueeze(1)
    sx, qx = x[:, :shots].reshape(-1, *x.shape[2:]), x[:, shots:].reshape(-1, *x.shape[2:])
    return sx, y.expand(ways, shots).reshape(-1), qx, y.expand(ways, queries).reshape(-1)


def batch(torch, images, ways: int, shots: int, queries: int, tasks: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    parts = [episode(torch, images, ways, shots, queries, g) for _ in range(tasks)]
    return tuple(torch.stack(p) for p in zip(*parts))


def fixed_episodes(torch, images, first_seed: int, count: int) -> list:
    """``count`` 5-way 1-shot episodes with `EVAL_QUERIES` queries a class, episode ``i`` drawn with seed
    ``first_seed + i`` (the same for every library)."""
    return [
        episode(torch, images, 5, 1, EVAL_QUERIES, torch.Generator().manual_seed(first_seed + i)) for i in range(count)
    ]


def maml_accuracy(torch, model, episodes) -> list[float]:
    """Query accuracy after `TEST_STEPS` plain SGD steps from the model's weights (the same code for every library)."""
    from torch.func import functional_call

    F = torch.nn.functional
    names, accs = [n for n, _ in model.named_parameters()], []
    for sx, sy, qx, qy in episodes:
        params = [p.detach() for p in model.parameters()]
        for _ in range(TEST_STEPS):
            with torch.enable_grad():
                ps = [p.requires_grad_() for p in params]
                loss = F.cross_entropy(functional_call(model, dict(zip(names, ps)), (sx,)), sy)
                grads = torch.autograd.grad(loss, ps)
            params = [(p - peers_maml.LR * gr).detach() for p, gr in zip(ps, grads)]
        with torch.no_grad():
            logits = functional_call(model, dict(zip(names, params)), (qx,))
        accs.append(float((logits.argmax(-1) == qy).float().mean()))
    return accs


def proto_accuracy(torch, encoder, episodes) -> list[float]:
    """Nearest class mean in Euclidean distance, BatchNorm on running statistics (the same code for every library)."""
    encoder.eval()
    accs = []
    with torch.no_grad():
        for sx, sy, qx, qy in episodes:
            zs, zq = encoder(sx), encoder(qx)
            protos = torch.stack([zs[sy == c].mean(0) for c in range(int(sy.max()) + 1)])
            accs.append(float((torch.cdist(zq, protos).argmin(-1) == qy).float().mean()))
    encoder.train()
    return accs


def proto_encoder(torch, nn):
    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))

    torch.manual_seed(0)
    return nn.Sequential(block(1, 64), block(64, 64), block(64, 64), block(64, 64), nn.Flatten())


def proto_step(impl: str, torch, encoder):
    """``(owner of the trained parameters, step(sx, sy, qx, qy) -> loss)`` for one ProtoNet training episode."""
    F = torch.nn.functional
    if impl.startswith("fastadapt"):
        from fastadapt import ProtoNet
        from fastadapt.tasks import TaskBatch

        learner = ProtoNet(encoder)
        learner.set_precision(precision_of(impl))
        return learner, lambda sx, sy, qx, qy: learner.meta_loss(TaskBatch(sx, sy, qx, qy, PROTO_WAYS))[0]
    if impl == "easyfsl":
        from easyfsl.methods import PrototypicalNetworks

        model = PrototypicalNetworks(encoder)

        def step(sx, sy, qx, qy):
            model.process_support_set(sx[0], sy[0])
            return F.cross_entropy(model(qx[0]), qy[0])

        return model, step
    raise ValueError(f"unknown ProtoNet implementation {impl!r}")


def precision_of(impl: str) -> str:
    """``fastadapt`` runs fp32, ``fastadapt-bf16`` bfloat16 autocast (weights, optimizer and heads in fp32)."""
    return impl.split("-")[1] if "-" in impl else "fp32"


def worker(a) -> None:
    import resource

    import torch
    from torch import nn

    torch.set_num_threads(a.threads)
    if a.worker.startswith("fastadapt"):  # as fastadapt's trainer and CLI do on the CPU
        from fastadapt.cpu_memory import reuse_freed_memory

        reuse_freed_memory()
    data = torch.load(a.data, weights_only=True)
    val = fixed_episodes(torch, data["val"], 10_000, VAL_EPISODES)
    if a.race == "maml":
        peers_maml.TASKS = MAML_TASKS
        model = peers_maml.build(torch, nn)
        owner, step = peers_maml.make_step(a.worker.split("-")[0], torch, model, 1, False)
        if a.worker.startswith("fastadapt"):
            owner.set_precision(precision_of(a.worker))
        opt = torch.optim.Adam(owner.parameters(), 1e-3)
        sched = None
        # fastadapt's MAML trains its functional copy
        trained = owner.module if a.worker.startswith("fastadapt") else model

        def accuracy(eps):  # validated and tested on the plain network, the trained weights loaded
            model.load_state_dict(trained.state_dict())
            return maml_accuracy(torch, model, eps)

        shape = (5, 1, MAML_QUERIES, MAML_TASKS)
    else:
        model = proto_encoder(torch, nn)
        owner, step = proto_step(a.worker, torch, model)
        opt = torch.optim.Adam(owner.parameters(), PROTO_LR)
        sched = torch.optim.lr_scheduler.StepLR(opt, PROTO_DECAY, 0.5)
        accuracy = lambda eps: proto_accuracy(torch, model, eps)  # noqa: E731
        shape = (PROTO_WAYS, 1, PROTO_QUERIES, 1)
    curve, train_s, reached = [], 0.0, None
    for i in range(1, a.max_iters + 1):
        b = batch(torch, data["train"], *shape, seed=i)
        t = time.perf_counter()
        opt.zero_grad()
        loss = step(*b)
        if loss is not None:  # fastadapt's MAML step back-propagates itself
            loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        train_s += time.perf_counter() - t
        if i % a.val_every == 0:
            acc = sum(accuracy(val)) / len(val)
            curve.append({"iteration": i, "train_seconds": round(train_s, 2), "val_acc": round(acc, 5)})
            print(json.dumps(curve[-1]), file=sys.stderr, flush=True)
            if acc >= a.target:
                reached = curve[-1]
                break
            if train_s > a.max_minutes * 60:
                break
    accs = accuracy(fixed_episodes(torch, data["test"], 20_000, TEST_EPISODES))
    mean = sum(accs) / len(accs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in accs) / (len(accs) - 1))
    out = {
        "reached": reached,
        "curve": curve,
        "train_seconds": round(train_s, 2),
        "iterations": curve[-1]["iteration"] if curve else 0,
        "test_acc": round(100 * mean, 2),
        "test_ci95": round(100 * 1.96 * sd / math.sqrt(len(accs)), 2),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(out))


# ---------------------------------------------------------------- orchestrator ---------------------------
def save_data(path: Path) -> None:
    """The three Vinyals parts as uint8 ``[classes, 20, 28, 28]`` (read with fastadapt; the workers need only torch)."""
    import torch

    from fastadapt.tasks.omniglot import omniglot_classes

    parts = {}
    for part in ("train", "val", "test"):
        d = omniglot_classes("vinyals", part)
        parts[part] = d.x.reshape(len(d.class_names), -1, *d.x.shape[-2:]).contiguous()
    torch.save(parts, path)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--race", choices=tuple(RACES), required=True)
    p.add_argument("--impls", nargs="+", help="default: fastadapt and the race's peers")
    p.add_argument("--target", type=float, help="validation accuracy to reach (default: 0.96 MAML, 0.98 ProtoNet)")
    p.add_argument("--val-every", type=int, help="iterations between validations (default 100)")
    p.add_argument("--max-minutes", type=float, default=60.0, help="training time after which a run gives up")
    p.add_argument("--max-iters", type=int, default=100_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--peers-python", default="/tmp/peers-venv/bin/python")
    p.add_argument("--out", help="default results/time_to_accuracy_<race>.json")
    p.add_argument("--add", action="store_true", help="keep the runs already in --out (each records its commit)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    a = p.parse_args()
    race = RACES[a.race]
    a.target = race["target"] if a.target is None else a.target
    a.val_every = a.val_every or race["val_every"]
    if a.worker:
        return worker(a)

    from fastadapt.train.trainer import git_commit

    out = Path(a.out or f"results/time_to_accuracy_{a.race}.json")
    data = Path(os.environ.get("TMPDIR", "/tmp")) / "time_to_accuracy_omniglot.pt"
    if not data.exists():
        save_data(data)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    impls = a.impls or list(race["impls"])
    runs, skipped, t0 = {}, {}, time.time()
    if a.add and out.exists():
        runs = {i: r for i, r in json.loads(out.read_text())["runs"].items() if i not in impls}
    for impl in impls:
        py = sys.executable if impl.startswith("fastadapt") else a.peers_python
        if not Path(py).exists():
            venv = Path(py).parents[1]
            skipped[impl] = f"no peers environment at {py} (bash ../shared/peers/setup-peers-venv.sh {venv})"
            continue
        cmd = [py, __file__, "--race", a.race, "--worker", impl, "--data", str(data), "--target", str(a.target)]
        cmd += ["--val-every", str(a.val_every), "--max-minutes", str(a.max_minutes), "--max-iters", str(a.max_iters)]
        cmd += ["--threads", str(a.threads)]
        print(f"{a.race} {impl}: training to {a.target:.0%} validation accuracy", flush=True)
        res = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)
        if res.returncode:
            skipped[impl] = f"failed with exit code {res.returncode} (its stderr is above)"
            continue
        runs[impl] = json.loads(res.stdout.strip().splitlines()[-1]) | {"commit": git_commit()}
        r = runs[impl]
        print(f"{impl}: {'reached' if r['reached'] else 'did not reach'} the target, test {r['test_acc']}", flush=True)
        write(a, out, runs, skipped, t0, git_commit())


def write(a, out: Path, runs: dict, skipped: dict, t0: float, commit: str) -> None:
    """The results file, rewritten after every run (a session cut short keeps the runs done)."""
    import torch

    summary = {}
    peers = {i: r for i, r in runs.items() if not i.startswith("fastadapt") and r["reached"]}
    if peers:
        fastest = min(peers, key=lambda i: peers[i]["reached"]["train_seconds"])
        summary = {"fastest_peer": fastest}
        for impl, ours in runs.items():
            if impl.startswith("fastadapt") and ours["reached"]:
                summary[f"{impl}_time_to_target_speedup_vs_fastest_peer"] = round(
                    peers[fastest]["reached"]["train_seconds"] / ours["reached"]["train_seconds"], 3
                )
    doc = {
        "command": "python " + " ".join(sys.argv),
        "seed": 0,
        "commit": commit,
        "machine": f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, {a.threads} threads",
        "wall_seconds": round(time.time() - t0, 1),
        "race": a.race,
        "target_val_acc": a.target,
        "val_every": a.val_every,
        "protocol": " ".join("\n\n".join(__doc__.split("\n\n")[1:4]).split()),
        "skipped": skipped,
        "summary": summary,
        "runs": runs,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
