"""A network prepared for functional inner loops (`torch.func.functional_call`, `torch.func.vmap` over tasks).

`functional_copy` deep-copies a module and rewrites its BatchNorm layers (Ioffe & Szegedy 2015) to normalize with
the statistics of the current forward pass only, computed with plain tensor ops where needed: under `vmap` the
built-in kernel gives wrong second-order gradients in torch 2.13. Running statistics are neither used nor
updated. Two switches, both context-local, change how the rewritten layers compute:

* `task_vmap` (vmap over tasks): plain ops, so second-order gradients are exact;
* `support_statistics(rows)`: only the first ``rows`` examples of a pass (the support set) give the statistics
  that normalize every example (non-transductive prediction: each query independently of the others).
"""

from __future__ import annotations

import contextvars
import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import vmap

from .reorder import pool_before_relu

# Number of leading rows of a forward pass whose statistics BatchNorm uses (None: all rows).
_STATS_ROWS: contextvars.ContextVar[int | None] = contextvars.ContextVar("fastadapt_bn_rows", default=None)
# True while tracing under torch.func.vmap: BatchNorm must use plain ops, and gradients torch.func.grad.
_IN_VMAP: contextvars.ContextVar[bool] = contextvars.ContextVar("fastadapt_in_vmap", default=False)


def in_task_vmap() -> bool:
    """True inside a function run by `task_vmap` (gradients must then come from `torch.func.grad`)."""
    return _IN_VMAP.get()


def task_vmap(fn: Callable) -> Callable:
    """`torch.func.vmap` over tasks with the rewritten BatchNorm layers switched to their vmap-safe ops."""
    mapped = vmap(fn, randomness="same")

    def run(*args: Any) -> Any:
        token = _IN_VMAP.set(True)
        try:
            return mapped(*args)
        finally:
            _IN_VMAP.reset(token)

    return run


@contextmanager
def support_statistics(rows: int) -> Iterator[None]:
    """Within this block the rewritten BatchNorm layers normalize every example with the statistics of the first
    ``rows`` examples of each pass (put the support set first)."""
    token = _STATS_ROWS.set(rows)
    try:
        yield
    finally:
        _STATS_ROWS.reset(token)


class TaskBatchNormMixin:
    """BatchNorm with the statistics of the current pass only (module docstring): the fused kernel for one task at
    a time, plain tensor ops under vmap (exact second-order gradients) or with support statistics."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.to(self.weight.dtype)  # statistics in fp32 also after a convolution run in bf16 (precision="bf16")
        rows = _STATS_ROWS.get()
        if rows is None and not _IN_VMAP.get():  # one task per call: the fused kernel is exact and faster
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        # Written so that autograd keeps one activation-sized tensor (the centred input), as the fused kernel
        # does: the centred input is shared by the variance and the output, and the affine scale is folded
        # into the per-channel factor before it meets the activations.
        dims = [0, *range(2, x.dim())]
        ref = x if rows is None else x[:rows]
        mean = ref.mean(dims, keepdim=True)
        centred = x - mean
        ref_centred = centred if rows is None else centred[:rows]
        scale = torch.rsqrt(ref_centred.square().mean(dims, keepdim=True) + self.eps)
        if not self.affine:
            return centred * scale
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return centred * (scale * self.weight.reshape(shape)) + self.bias.reshape(shape)


_BN_CLASSES: dict[type, type] = {}


def functional_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` whose BatchNorm layers use per-pass statistics from plain tensor ops
    (same class hierarchy and state-dict keys; in-place ReLUs made out-of-place for double backward; ReLU then
    max-pool reordered to the same function's cheaper pool then ReLU, `fastadapt.nn.reorder`)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"Expected a torch.nn.Module, got {type(module).__name__}.")
    net = copy.deepcopy(module)
    pool_before_relu(net)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, TaskBatchNormMixin):
            cls = type(m)
            if cls not in _BN_CLASSES:
                _BN_CLASSES[cls] = type(f"Task{cls.__name__}", (TaskBatchNormMixin, cls), {})
            m.__class__ = _BN_CLASSES[cls]
        elif isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Hardtanh)) and getattr(m, "inplace", False):
            m.inplace = False
    return net
