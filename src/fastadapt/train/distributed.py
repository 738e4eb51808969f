"""Data-parallel meta-training on `torch.distributed` (launched by `torchrun`; gloo on CPU, NCCL on GPU).

Every rank builds the same step-``i`` meta-batch (sampling is cheap and seeded by the step) and adapts its
contiguous share of the tasks; the meta-gradients are averaged with one all-reduce of a flat buffer before
the outer step, so the result equals one process on the whole meta-batch whenever the meta-loss is a mean
over tasks with per-task computation. Communication per step: one all-reduce of (number of parameters)
x 4 bytes. A single process needs no launcher and skips all of this.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

B = TypeVar("B")  # a TaskBatch or an RLTaskBatch


@dataclass
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_world(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group that `torchrun` describes in the environment (or stay single-process)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(), device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return World(dist.get_rank(), dist.get_world_size()), device


def share(meta_batch: int, world: World) -> range:
    """This rank's contiguous share of ``meta_batch`` tasks; the batch must split evenly over the processes."""
    if meta_batch % world.size:
        raise ValueError(
            f"meta_batch ({meta_batch}) must be divisible by the number of processes ({world.size}); "
            f"change --set meta_batch or --nproc-per-node."
        )
    k = meta_batch // world.size
    return range(world.rank * k, (world.rank + 1) * k)


def shard(batch: B, world: World) -> B:
    """This rank's contiguous share of the tasks in ``batch``: episodes of a `TaskBatch`, or the tasks of a
    meta-RL `RLTaskBatch` (anything with ``len`` and ``chunks(size)``)."""
    if world.size == 1:
        return batch
    mine = share(len(batch), world)
    return batch.chunks(len(mine))[world.rank]


def average_gradients(params: list[torch.nn.Parameter], world: World) -> None:
    """Replace each gradient by its mean over ranks (one all-reduce of a flat buffer)."""
    if world.size == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for p, g in zip(params, grads):
        p.grad = flat[offset : offset + g.numel()].view_as(g).clone()
        offset += g.numel()


def collective_device() -> torch.device:
    """Where small tensors for a collective must live: NCCL reduces only CUDA tensors, gloo CPU ones."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def average_metrics(metrics: dict[str, float], world: World) -> dict[str, float]:
    if world.size == 1:
        return metrics
    keys = sorted(metrics)
    t = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=collective_device())
    dist.all_reduce(t)
    return {k: float(v) / world.size for k, v in zip(keys, t)}


def any_rank(flag: bool, world: World) -> bool:
    """Whether ``flag`` holds on any rank (one all-reduce), so every rank takes the same branch."""
    if world.size == 1:
        return flag
    t = torch.tensor([float(flag)], device=collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def close_world(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
