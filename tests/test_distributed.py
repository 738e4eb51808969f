"""Data-parallel meta-training: two gloo processes (real torchrun) equal one process on the same meta-batch."""

import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from fastadapt.configs import build_learner
from fastadapt.presets import apply_overrides, get_preset
from fastadapt.tasks import build_sampler

SET = [
    "steps=3",
    "meta_batch=4",
    "log_every=1",
    "ckpt_every=1",
    "val_every=3",
    "val_episodes=4",
    "eval_episodes=4",
    "device=cpu",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args, tmp_path, nproc=2):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={nproc}",
        "--master-addr=127.0.0.1",
        f"--master-port={free_port()}",
        *args,
    ]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def cfg():
    return apply_overrides(get_preset("sinusoid-maml-5shot"), SET)


def test_two_processes_same_meta_gradient(tmp_path):
    script = tmp_path / "grads.py"
    script.write_text(
        textwrap.dedent(f"""
        import torch, sys
        from fastadapt.configs import build_learner
        from fastadapt.presets import apply_overrides, get_preset
        from fastadapt.tasks import build_sampler
        from fastadapt.train.distributed import init_world, shard, average_gradients, close_world
        world, dev = init_world(torch.device("cpu"))
        cfg = apply_overrides(get_preset("sinusoid-maml-5shot"), {SET!r})
        torch.manual_seed(0)
        learner = build_learner(cfg)
        batch = build_sampler(cfg, "train", None, 5, 5, 0).batch(0, 4)
        loss, _ = learner.meta_loss(shard(batch, world))
        loss.backward()
        average_gradients(list(learner.parameters()), world)
        if world.is_main:
            torch.save([p.grad for p in learner.parameters()], sys.argv[1])
        close_world(world)
    """)
    )
    torchrun([str(script), str(tmp_path / "g.pt")], tmp_path)
    dist_grads = torch.load(tmp_path / "g.pt", weights_only=True)
    c = cfg()
    torch.manual_seed(0)
    learner = build_learner(c)
    loss, _ = learner.meta_loss(build_sampler(c, "train", None, 5, 5, 0).batch(0, 4))
    loss.backward()
    for p, g in zip(learner.parameters(), dist_grads):
        assert torch.allclose(p.grad, g, rtol=1e-5, atol=1e-7)
    assert any(g.abs().sum() > 0 for g in dist_grads)


def test_torchrun_training_matches_single_process(tmp_path):
    base = ["-m", "fastadapt", "train", "--preset", "sinusoid-maml-5shot"] + [a for s in SET for a in ("--set", s)]
    torchrun(base + ["--out", str(tmp_path / "two")], tmp_path)
    r = subprocess.run(
        [sys.executable] + base + ["--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    one, two = load_file(tmp_path / "one" / "last.safetensors"), load_file(tmp_path / "two" / "last.safetensors")
    models = [k for k in one if k.startswith("model.")]
    assert models and all(torch.allclose(one[k], two[k], rtol=1e-5, atol=1e-6) for k in models)
    torch.manual_seed(0)
    init = build_learner(cfg()).state_dict()
    assert any(not torch.equal(one[f"model.{k}"], v) for k, v in init.items())  # training moved the weights


def test_meta_batch_must_split_evenly():
    from fastadapt.tasks.task import TaskBatch
    from fastadapt.train.distributed import World, shard

    b = TaskBatch(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        shard(b, World(0, 2))
    second = shard(TaskBatch(*(torch.arange(4).view(4, 1),) * 4), World(1, 2))
    assert second.support_x.view(-1).tolist() == [2, 3]  # rank 1 holds the second half
    from fastadapt.train.distributed import share

    assert [list(share(6, World(r, 3))) for r in range(3)] == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(ValueError, match="--nproc-per-node"):
        share(5, World(0, 2))


def test_torchrun_learned_optimizer_matches_single_process(tmp_path):
    """The learned-optimizer trainer shards its meta-batch of problems the same way (rank 0 writes)."""
    sets = [
        "steps=2",
        "meta_batch=2",
        "horizon=10",
        "unroll=5",
        "horizon_mult=1",
        "log_every=1",
        "ckpt_every=1",
        "val_every=2",
        "val_problems=2",
    ]
    script = tmp_path / "l2o.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys
        from fastadapt.train.l2o import train_l2o
        from fastadapt.presets import apply_overrides, get_preset
        train_l2o(apply_overrides(get_preset("l2o-quadratic"), {sets!r}), sys.argv[1], progress=False,
                  evaluate=False)
    """)
    )
    torchrun([str(script), str(tmp_path / "two")], tmp_path)
    r = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "one")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    one, two = load_file(tmp_path / "one" / "last.safetensors"), load_file(tmp_path / "two" / "last.safetensors")
    rules = [k for k in one if k.startswith("model.")]
    assert rules and all(torch.allclose(one[k], two[k], rtol=1e-5, atol=1e-7) for k in rules)
    assert (tmp_path / "two" / "metrics.jsonl").read_text().count("\n") == 2  # one writer, one line a step


def test_meta_rl_task_batches_are_sharded_by_task():
    from fastadapt.presets import get_preset
    from fastadapt.tasks import build_sampler
    from fastadapt.train.distributed import World, shard

    cfg = get_preset("rl-2dnav-maml")
    batch = build_sampler(cfg, "train", None, cfg["shots"], cfg["queries"], cfg["seed"]).batch(0, 4)
    halves = [shard(batch, World(r, 2)) for r in range(2)]
    assert [len(h) for h in halves] == [2, 2] and all(h.shots == batch.shots for h in halves)
    assert torch.equal(torch.cat([h.params for h in halves]), batch.params)
    assert torch.equal(torch.cat([h.seeds for h in halves]), batch.seeds)
