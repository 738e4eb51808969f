"""Benchmark: one MAML meta-training iteration, fastadapt against learn2learn, higher and TorchOpt.

Workload (as in ../shared/peers/MEASURED.md): Omniglot 5-way 1-shot shapes, 32 tasks x (5 support + 75 query)
images of 1x28x28, Conv4 (4 x [conv3x3 64, BatchNorm with batch statistics, ReLU, maxpool 2]) + linear, inner
SGD lr 0.4 with 1 or 5 steps, second and first order, Adam outer step. Every implementation runs in its own
process (the peers in a separate virtualenv: ``bash ../shared/peers/setup-peers-venv.sh /tmp/peers-venv``),
from the same initial weights and data; the processes are interleaved over several rounds, and we report the
median seconds per iteration, the peak RSS, and the largest difference of each peer's first meta-gradient
from fastadapt's (equal math). FLOPs of the iteration are counted with torch's FlopCounterMode.

``floor`` is not a peer: first-order MAML's arithmetic alone (per task, the inner steps' support forward and
backward, then the query forward and backward, in plain autograd, pool before ReLU), which every
implementation of either order has to do; a second-order iteration does all of it and more. The fastest
peer's time over the floor's (``speedup_ceiling_vs_fastest_peer``) bounds the speedup any implementation of
the same gradients can reach with PyTorch's CPU kernels. (Its gradient is first order's, so its gradient
difference at second order is not a correctness check.)

fastadapt's trainer and CLI make glibc keep freed memory for reuse on the CPU (`fastadapt.cpu_memory`), and its
worker here does the same (so does the floor's); ``--same-allocator`` gives the peers' processes that behaviour too
(through glibc's environment variables), to separate the allocator's share of the difference from the rest.

    python benchmarks/peers_maml.py --threads 2                    # full run (~70 min on 2 idle cores)
    python benchmarks/peers_maml.py --threads 2 --iters 5 --warmup 1   # shorter (~35 min)
    python benchmarks/peers_maml.py --threads 1 --rounds 1 --iters 2 --steps 1 --out /tmp/p.json   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

WAYS, SHOTS, QUERIES, TASKS, LR = 5, 1, 15, 32, 0.4
TASK_CHUNK = None  # fastadapt's task_chunk (tasks back-propagated at a time under vmap; None: all)
PEERS = ("learn2learn", "higher", "torchopt")
FIRST_ORDER_OK = {"fastadapt", "learn2learn", "floor"}  # higher / TorchOpt have no first-order MAML switch
OURS = ("fastadapt", "floor")  # run in fastadapt's environment; never counted as peers


# ---------------------------------------------------------------- worker (runs inside one process) ------
def build(torch, nn):
    def block(i, o):
        return nn.Sequential(
            nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o, track_running_stats=False), nn.ReLU(), nn.MaxPool2d(2)
        )

    torch.manual_seed(0)
    return nn.Sequential(block(1, 64), block(64, 64), block(64, 64), block(64, 64), nn.Flatten(), nn.Linear(64, WAYS))


def data(torch, i):
    g = torch.Generator().manual_seed(1000 + i)
    sx = torch.randn(TASKS, WAYS * SHOTS, 1, 28, 28, generator=g)
    qx = torch.randn(TASKS, WAYS * QUERIES, 1, 28, 28, generator=g)
    sy = torch.arange(WAYS).repeat_interleave(SHOTS).repeat(TASKS, 1)
    qy = torch.arange(WAYS).repeat_interleave(QUERIES).repeat(TASKS, 1)
    sx = sx + sy[..., None, None, None].float()  # make the classes separable
    qx = qx + qy[..., None, None, None].float()
    return sx, sy, qx, qy


def make_step(impl, torch, model, steps, fo):
    F = torch.nn.functional
    from torch.func import functional_call

    if impl == "fastadapt":
        from fastadapt import MAML

        learner = MAML(model, inner_lr=LR, inner_steps=steps, first_order=fo, task_chunk=TASK_CHUNK)
        from fastadapt.tasks import TaskBatch
        from fastadapt.train.backward import meta_backward

        def loss_fn(sx, sy, qx, qy):  # back-propagates as the trainer does (chunk by chunk): nothing left to do
            meta_backward(learner, TaskBatch(sx, sy, qx, qy, WAYS))

        return learner, loss_fn
    if impl == "learn2learn":
        import learn2learn as l2l

        maml = l2l.algorithms.MAML(model, lr=LR, first_order=fo)

        def loss_fn(sx, sy, qx, qy):
            total = 0.0
            for b in range(TASKS):
                clone = maml.clone()
                for _ in range(steps):
                    clone.adapt(F.cross_entropy(clone(sx[b]), sy[b]))
                total = total + F.cross_entropy(clone(qx[b]), qy[b])
            return total / TASKS

        return maml, loss_fn
    if impl == "higher":
        import higher

        def loss_fn(sx, sy, qx, qy):
            total = 0.0
            inner = torch.optim.SGD(model.parameters(), lr=LR)
            for b in range(TASKS):
                with higher.innerloop_ctx(model, inner, copy_initial_weights=False) as (fmodel, diffopt):
                    for _ in range(steps):
                        diffopt.step(F.cross_entropy(fmodel(sx[b]), sy[b]))
                    total = total + F.cross_entropy(fmodel(qx[b]), qy[b])
            return total / TASKS

        return model, loss_fn
    if impl == "torchopt":
        import torchopt

        names = [n for n, _ in model.named_parameters()]
        sgd = torchopt.sgd(lr=LR)

        def loss_fn(sx, sy, qx, qy):
            total = 0.0
            for b in range(TASKS):
                params = tuple(model.parameters())
                state = sgd.init(params)
                for _ in range(steps):
                    out = functional_call(model, dict(zip(names, params)), (sx[b],))
                    grads = torch.autograd.grad(F.cross_entropy(out, sy[b]), params, create_graph=True)
                    updates, state = sgd.update(grads, state, inplace=False)
                    params = torchopt.apply_updates(params, updates, inplace=False)
                out = functional_call(model, dict(zip(names, params)), (qx[b],))
                total = total + F.cross_entropy(out, qy[b])
            return total / TASKS

        return model, loss_fn
    if impl == "floor":  # first-order MAML's arithmetic alone: a lower bound for any implementation
        from fastadapt.nn.reorder import pool_before_relu

        pool_before_relu(model)
        return make_step("torchopt_free", torch, model, steps, True)
    if impl == "torchopt_free":  # plain torch.autograd MAML (the FLOP-count reference)
        names = [n for n, _ in model.named_parameters()]

        def loss_fn(sx, sy, qx, qy):
            total = 0.0
            for b in range(TASKS):
                params = tuple(model.parameters())
                for _ in range(steps):
                    out = functional_call(model, dict(zip(names, params)), (sx[b],))
                    grads = torch.autograd.grad(F.cross_entropy(out, sy[b]), params, create_graph=not fo)
                    params = tuple(p - LR * g for p, g in zip(params, grads))
                total = total + F.cross_entropy(functional_call(model, dict(zip(names, params)), (qx[b],)), qy[b])
            return total / TASKS

        return model, loss_fn
    raise ValueError(f"unknown implementation {impl!r}")


def worker(a) -> None:
    global TASKS, TASK_CHUNK
    TASKS, TASK_CHUNK = a.tasks, a.task_chunk or None
    import resource

    import torch
    from torch import nn

    torch.set_num_threads(a.threads)
    if a.worker in OURS and a.device == "cpu":  # as fastadapt's trainer and CLI do on the CPU
        from fastadapt.cpu_memory import reuse_freed_memory

        reuse_freed_memory()
    dev = torch.device(a.device)
    model = build(torch, nn).to(dev)
    owner, loss_fn = make_step(a.worker, torch, model, a.steps, a.order == "first")
    opt = torch.optim.Adam(owner.parameters(), 1e-3)
    times, grad = [], None
    for i in range(a.warmup + a.iters):
        sx, sy, qx, qy = (t.to(dev) for t in data(torch, i))
        sync(torch, dev)
        t = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(sx, sy, qx, qy)
        if loss is not None:
            loss.backward()
        if i == 0:
            grad = torch.cat([p.grad.reshape(-1) for p in owner.parameters() if p.grad is not None]).cpu()
        opt.step()
        sync(torch, dev)
        times.append(time.perf_counter() - t)
    flops = None
    if a.worker == "fastadapt":  # FLOPs of the math, counted on a plain per-task autograd reference
        from torch.utils.flop_counter import FlopCounterMode

        ref_model = build(torch, nn)
        _, ref = make_step("torchopt_free", torch, ref_model, a.steps, a.order == "first")
        with FlopCounterMode(display=False) as fc:
            ref(*data(torch, 0)).backward()
        flops = fc.get_total_flops()
    torch.save(grad, a.grad_file)
    peak = (
        torch.cuda.max_memory_allocated(dev) / 2**20
        if dev.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    print(json.dumps({"times": times[a.warmup :], "peak_rss_mb": peak, "flops": flops}))


def sync(torch, dev) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


# ---------------------------------------------------------------- orchestrator ---------------------------
def matmul_gflops(python: str, threads: int, device: str = "cpu") -> float:
    """float32 matmul rate of this machine (the device's, on a GPU: 4096^3 products, TF32 off)."""
    n = 4096 if device != "cpu" else 2048
    code = (
        f"import torch,time;torch.set_num_threads({threads});d='{device}';a=torch.randn({n},{n},device=d);b=a@a;"
        "s=(lambda:torch.cuda.synchronize()) if d!='cpu' else (lambda:None);s();t=time.perf_counter();"
        f"[a@a for _ in range(10)];s();print(10*2*{n}**3/(time.perf_counter()-t)/1e9)"
    )
    return float(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--peers-python", default="/tmp/peers-venv/bin/python")
    p.add_argument("--impls", nargs="+", default=["fastadapt", *PEERS, "floor"])
    p.add_argument("--steps", nargs="+", type=int, default=[1, 5])
    p.add_argument("--orders", nargs="+", default=["second", "first"], choices=("second", "first"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tasks", type=int, default=TASKS, help="meta-batch size (the reference workload: 32)")
    p.add_argument(
        "--task-chunk",
        type=int,
        default=0,
        help="fastadapt's task_chunk: under vmap (GPU), "
        "back-propagate this many tasks at a time (0: the whole meta-batch)",
    )
    p.add_argument(
        "--same-allocator",
        action="store_true",
        help="give the peers' processes the malloc "
        "behaviour fastadapt sets for itself (glibc env MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_)",
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda (peak memory is then the GPU's max allocated)")
    p.add_argument("--out", default="results/peers_maml.json")
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="PEER=WHY",
        help="record a peer left out of --impls and why (e.g. not installable on this machine)",
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--order", default="second", help=argparse.SUPPRESS)
    p.add_argument("--grad-file", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        a.steps = a.steps[0]
        return worker(a)

    skipped = {}
    if not Path(a.peers_python).exists():
        skipped = {peer: f"no peers environment at {a.peers_python}" for peer in PEERS}
    skipped.update(dict(item.split("=", 1) for item in a.skip))
    impls = [i for i in a.impls if i not in skipped]
    configs = [(s, o) for s in a.steps for o in a.orders]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    if a.same_allocator:
        env.update(MALLOC_MMAP_MAX_="0", MALLOC_TRIM_THRESHOLD_=str(2**31 - 1))
    runs: dict = {}
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    t0 = time.time()
    for r in range(a.rounds):
        for s, o in configs:
            order = impls if r % 2 == 0 else impls[::-1]  # interleave, alternate the order
            for impl in order:
                if o == "first" and impl not in FIRST_ORDER_OK:
                    continue
                key = f"{s}step-{o}"
                gf = tmp / f"peers_maml_grad_{impl}_{key}.pt"
                py = sys.executable if impl in OURS else a.peers_python
                cmd = [
                    py,
                    __file__,
                    "--worker",
                    impl,
                    "--steps",
                    str(s),
                    "--order",
                    o,
                    "--iters",
                    str(a.iters),
                    "--warmup",
                    str(a.warmup),
                    "--threads",
                    str(a.threads),
                    "--tasks",
                    str(a.tasks),
                    "--task-chunk",
                    str(a.task_chunk),
                    "--grad-file",
                    str(gf),
                    "--device",
                    a.device,
                ]
                res = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if res.returncode:
                    skipped.setdefault(impl, f"failed: {res.stderr.strip().splitlines()[-1] if res.stderr else '?'}")
                    print(f"{impl} {key}: FAILED\n{res.stderr[-2000:]}", file=sys.stderr)
                    continue
                out = json.loads(res.stdout.strip().splitlines()[-1])
                d = runs.setdefault(key, {}).setdefault(impl, {"times": [], "peak_rss_mb": [], "flops": None})
                d["times"] += out["times"]
                d["peak_rss_mb"].append(out["peak_rss_mb"])
                d["flops"] = out["flops"] or d["flops"]
                d["grad_file"] = str(gf)
                print(
                    f"round {r + 1} {key:>14} {impl:>12}: median {statistics.median(out['times']):.3f} s, "
                    f"peak RSS {out['peak_rss_mb']:.0f} MB",
                    flush=True,
                )
        report(a, runs, skipped, t0, r + 1)


def report(a, runs: dict, skipped: dict, t0: float, rounds_done: int) -> None:
    """Write the results file (after every round, so a run cut short still leaves its rounds)."""
    import torch

    results = {}
    for key, by_impl in runs.items():
        row = {}
        ref = torch.load(by_impl["fastadapt"]["grad_file"]) if "fastadapt" in by_impl else None
        for impl, d in by_impl.items():
            med = statistics.median(d["times"])
            g = torch.load(d["grad_file"])
            row[impl] = {
                "median_s": med,
                "iterations": len(d["times"]),
                "peak_rss_mb": max(d["peak_rss_mb"]),
                "max_abs_grad_diff_vs_fastadapt": None if ref is None else float((g - ref).abs().max()),
                "max_abs_grad": float(g.abs().max()),
            }
            if d["flops"]:
                row[impl].update(flops=d["flops"], gflops_per_s=d["flops"] / med / 1e9)
        peers = [i for i in row if i not in OURS]
        if "fastadapt" in row and peers:
            fastest = min(peers, key=lambda i: row[i]["median_s"])
            row["fastest_peer"] = fastest
            row["speedup_vs_fastest_peer"] = row[fastest]["median_s"] / row["fastadapt"]["median_s"]
            row["memory_ratio_vs_fastest_peer"] = row["fastadapt"]["peak_rss_mb"] / row[fastest]["peak_rss_mb"]
            if "floor" in row:  # no implementation of the same gradients can beat the fastest peer by more
                row["speedup_ceiling_vs_fastest_peer"] = row[fastest]["median_s"] / row["floor"]["median_s"]
        results[key] = row
    from fastadapt.train.trainer import git_commit  # the orchestrator runs in fastadapt's own venv

    gpu = f", {torch.cuda.get_device_name()}" if a.device != "cpu" else ""
    doc = {
        "command": "python " + " ".join(sys.argv),
        "seed": 0,
        "commit": git_commit(),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, {a.threads} threads{gpu}",
        "device": a.device,
        "memory_measure": "peak RSS (MB)" if a.device == "cpu" else "torch.cuda.max_memory_allocated (MB)",
        "matmul_gflops_per_s": matmul_gflops(sys.executable, a.threads, a.device),
        "wall_seconds": time.time() - t0,
        "workload": f"{a.tasks} tasks x ({WAYS * SHOTS} support + {WAYS * QUERIES} query) 1x28x28, Conv4 64 + linear, "
        f"fastadapt task_chunk {a.task_chunk or 'all'}, allocator: fastadapt reuses freed memory "
        f"(fastadapt.cpu_memory), peers {'the same' if a.same_allocator else 'glibc defaults'}, "
        f"inner SGD lr {LR}, Adam outer step; random inputs (timing only)",
        "rounds": rounds_done,
        "rounds_asked": a.rounds,
        "iters_per_round": a.iters,
        "warmup": a.warmup,
        "skipped": skipped,
        "reference": "../shared/peers/MEASURED.md (peers 4.0-4.9 s per 2nd-order iteration on 2 cores)",
        "results": results,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(doc, indent=1))
    for key, row in results.items():
        print(key, {k: (v["median_s"] if isinstance(v, dict) else v) for k, v in row.items()})


if __name__ == "__main__":
    main()
