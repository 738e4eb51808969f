"""The functional inner loop shared by the gradient-based learners (MAML, first-order MAML, Meta-SGD, ANIL,
MAML++, Reptile).

Fast weights are dictionaries of tensors run through `torch.func.functional_call`; a meta-batch of tasks is
adapted in one call, either with `torch.func.vmap` over tasks or with a per-task loop (``batching``); both
give the same numbers. The learner works on its own copy of the network, so the module a user passes in is
never changed, neither by ``adapt`` nor by meta-training (``learner.module`` is the meta-trained network).

BatchNorm (Ioffe & Szegedy 2015) inside the copy is computed with plain tensor ops, per task: under `vmap` the
built-in kernel gives wrong second-order gradients in torch 2.13. Its statistics mode is explicit (``bn``):

* ``"transductive"`` (Finn et al. 2017): every forward pass normalizes with the statistics of the examples it
  is given, i.e. the support set in the inner loop and the task's whole query set at prediction.
* ``"support"`` (non-transductive): queries are normalized with the statistics of the task's support set at
  the adapted weights, so each query is predicted independently of the others.

Running statistics are neither used nor updated.
"""

from __future__ import annotations

import contextvars
import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from ..nn.episodic import autocast
from ..nn.reorder import pool_before_relu
from ..tasks.task import TaskBatch
from .base import Learner, Prediction, check_labels

BN_MODES = ("transductive", "support")
BATCHING = ("auto", "vmap", "loop")
LR_MODES = ("fixed", "per_param", "per_layer_step")
INNER_LR = 0.4  # Finn 2017's Omniglot inner learning rate: the default of every gradient-based learner

# Number of leading rows of a forward pass whose statistics BatchNorm uses (None: all rows).
_STATS_ROWS: contextvars.ContextVar[int | None] = contextvars.ContextVar("fastadapt_bn_rows", default=None)
# True while tracing under torch.func.vmap: BatchNorm must use plain ops and gradients torch.func.grad.
_IN_VMAP: contextvars.ContextVar[bool] = contextvars.ContextVar("fastadapt_in_vmap", default=False)


def task_vmap(fn: Callable) -> Callable:
    """`torch.func.vmap` over tasks with the inner loop switched to its vmap-safe kernels."""
    mapped = vmap(fn, randomness="same")

    def run(*args: Any) -> Any:
        token = _IN_VMAP.set(True)
        try:
            return mapped(*args)
        finally:
            _IN_VMAP.reset(token)

    return run


class _TaskBatchNormMixin:
    """BatchNorm with the statistics of the current pass only (see module docstring): the fused kernel for one
    task at a time, plain tensor ops under vmap (exact second-order gradients) or with support statistics."""

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
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, _TaskBatchNormMixin):
            cls = type(m)
            if cls not in _BN_CLASSES:
                _BN_CLASSES[cls] = type(f"Task{cls.__name__}", (_TaskBatchNormMixin, cls), {})
            m.__class__ = _BN_CLASSES[cls]
        elif isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Hardtanh)) and getattr(m, "inplace", False):
            m.inplace = False
    return net


Params = dict[str, Tensor]


@dataclass
class FastWeights:
    """A task adapted by a gradient-based learner: its fast weights (and support set, for ``bn="support"``)."""

    learner: GradientLearner
    params: Params
    support_x: Tensor

    def predict(self, x: Tensor) -> Prediction:
        self.learner.check_one_task(x, "query_x")
        return self.learner._wrap(self.learner._query_forward(self.params, self.support_x, x))


class GradientLearner(Learner):
    """Base class of the gradient-based learners: the initialization (and, optionally, inner learning rates)
    is meta-learned so that ``inner_steps`` SGD steps on a task's support set fit the task.

    Args:
        module: any network; the learner keeps its own copy (the argument is never modified).
        inner_lr: inner-loop learning rate (initial value when learned).
        inner_steps: inner steps in meta-training; ``test_inner_steps`` (default: the same) in ``eval()``.
        first_order: drop the second-order terms (Finn 2017, first-order approximation): less memory and time.
        adapt: which parameters the inner loop updates: ``None`` for all, or a callable ``name -> bool``.
        lr_mode: ``"fixed"``; ``"per_param"`` (Meta-SGD, Li 2017: a learned rate per parameter entry);
            ``"per_layer_step"`` (MAML++, Antoniou 2019: a learned rate per parameter tensor and step).
        multi_step_loss: MAML++ multi-step loss: the query loss after every inner step, weighted; the weight
            moves linearly to the last step over ``msl_anneal`` meta-iterations.
        bn: BatchNorm statistics mode, ``"transductive"`` or ``"support"`` (module docstring).
        batching: ``"vmap"`` (`torch.func.vmap` over the tasks), ``"loop"`` (one task after the other), or
            ``"auto"``: the loop on CPU (about 2x faster than vmap there for Conv4 at 5+75 images a task),
            vmap on accelerators. Every choice gives the same numbers.
        task_chunk: in meta-training under vmap, adapt and back-propagate this many tasks at a time, so peak
            memory follows the chunk instead of the meta-batch (``None``: the whole meta-batch in one call).
            The loop path always back-propagates task by task; Reptile keeps no meta-graph and ignores it.
            Same numbers for every value.
        task_type: ``"classification"`` (cross-entropy on logits) or ``"regression"`` (squared error).
    """

    supports_precision = ("fp32", "bf16", "fp16")

    def __init__(
        self,
        module: nn.Module,
        inner_lr: float = INNER_LR,
        inner_steps: int = 1,
        test_inner_steps: int | None = None,
        first_order: bool = False,
        adapt: Callable[[str], bool] | None = None,
        lr_mode: str = "fixed",
        multi_step_loss: bool = False,
        msl_anneal: int = 10000,
        bn: str = "transductive",
        batching: str = "auto",
        task_chunk: int | None = None,
        task_type: str = "classification",
    ) -> None:
        super().__init__()
        if task_chunk is not None and task_chunk < 1:
            raise ValueError(
                f"task_chunk is a number of tasks >= 1 (or None for the whole meta-batch), got {task_chunk}."
            )
        self.task_chunk = task_chunk
        for name, val, ok in (
            ("bn", bn, BN_MODES),
            ("batching", batching, BATCHING),
            ("lr_mode", lr_mode, LR_MODES),
            ("task_type", task_type, ("classification", "regression")),
        ):
            if val not in ok:
                raise ValueError(f"{name} must be one of {ok}, got {val!r}.")
        if inner_steps < 0 or (test_inner_steps is not None and test_inner_steps < 0):
            raise ValueError(f"inner_steps must be >= 0, got {inner_steps} / {test_inner_steps}.")
        if not math.isfinite(inner_lr):
            raise ValueError(
                f"inner_lr must be a finite number, got {inner_lr}; a NaN or infinite step makes every "
                f"adapted weight, and so every prediction, NaN."
            )
        self.module = functional_copy(module)
        self.inner_steps, self.first_order = inner_steps, first_order
        self.test_inner_steps = inner_steps if test_inner_steps is None else test_inner_steps
        self.bn, self.batching, self.task_type = bn, batching, task_type
        weighted = [m for m in self.module.modules() if any(True for _ in m.parameters(recurse=False))]
        linears = [m for m in weighted if isinstance(m, nn.Linear)]
        if task_type == "regression" and weighted and isinstance(weighted[0], nn.Linear):  # an MLP on points
            self.point_dims = (linears[0].in_features, linears[-1].out_features)
        self.lr_mode, self.multi_step_loss, self.msl_anneal = lr_mode, multi_step_loss, msl_anneal
        names = [n for n, _ in self.module.named_parameters()]
        self.adapt_names = [n for n in names if adapt is None or adapt(n)]
        if not self.adapt_names:
            raise ValueError(f"The adapt filter selected no parameter; parameters are {names}.")
        self.inner_lr = float(inner_lr)
        if lr_mode == "per_param":
            self.lrs = nn.ParameterList(
                [
                    nn.Parameter(torch.full_like(p, inner_lr))
                    for n, p in self.module.named_parameters()
                    if n in self.adapt_names
                ]
            )
        elif lr_mode == "per_layer_step":
            steps = max(inner_steps, self.test_inner_steps, 1)
            self.lrs = nn.ParameterList([nn.Parameter(torch.full((steps,), float(inner_lr))) for _ in self.adapt_names])
        self.register_buffer("meta_iterations", torch.zeros((), dtype=torch.long))

    # ---- functional pieces -------------------------------------------------------------------------------
    def _lr(self, i: int, step: int) -> Tensor | float:
        if self.lr_mode == "per_param":
            return self.lrs[i]
        if self.lr_mode == "per_layer_step":
            return self.lrs[i][min(step, len(self.lrs[i]) - 1)]
        return self.inner_lr

    def _forward(self, params: Params, x: Tensor) -> Tensor:
        """The network at ``params``; under ``precision="bf16"`` (``"fp16"`` on CUDA) its matmuls and convolutions
        run in that type while the weights, the fast weights and their updates stay fp32, and so does the
        output the losses see (mixed precision as Micikevicius 2018, with no loss scaling needed for bf16)."""
        with autocast(self.precision, x.device.type):
            out = functional_call(self.module, params, (x,), strict=False)
        return out.float() if out.dtype in (torch.bfloat16, torch.float16) else out

    def _query_forward(self, params: Params, support_x: Tensor, x: Tensor) -> Tensor:
        if self.bn == "transductive":
            return self._forward(params, x)
        s = support_x.shape[0]
        token = _STATS_ROWS.set(s)
        try:
            return self._forward(params, torch.cat([support_x, x]))[s:]
        finally:
            _STATS_ROWS.reset(token)

    def _loss(self, out: Tensor, y: Tensor) -> Tensor:
        if self.task_type == "classification":
            return F.cross_entropy(out, y)
        return F.mse_loss(out, y)

    def _wrap(self, out: Tensor) -> Prediction:
        return Prediction(logits=out) if self.task_type == "classification" else Prediction(mean=out)

    def _steps(self) -> int:
        return self.inner_steps if self.training else self.test_inner_steps

    def _params(self) -> Params:
        return dict(self.module.named_parameters())

    def inner_loop(
        self, params: Params, support_x: Tensor, support_y: Tensor, steps: int, first_order: bool | None = None
    ) -> list[Params]:
        """Fast weights after each of ``steps`` SGD steps on one task's support loss (index 0: the start).
        Second order unless ``first_order``: the returned weights are differentiable functions of ``params``."""
        first_order = self.first_order if first_order is None else first_order
        fast = {n: params[n] for n in self.adapt_names}
        frozen = {n: p for n, p in params.items() if n not in fast}
        if first_order:
            frozen = {n: p.detach() for n, p in frozen.items()}

        def support_loss(fw: Params) -> Tensor:
            return self._loss(self._forward({**frozen, **fw}, support_x), support_y)

        history = [{**frozen, **fast}]
        for step in range(steps):
            g = self._grad(support_loss, fast, first_order)
            fast = {n: fast[n] - self._lr(i, step) * g[n] for i, n in enumerate(self.adapt_names)}
            history.append({**frozen, **fast})
        return history

    @staticmethod
    def _grad(fn: Callable[[Params], Tensor], fast: Params, first_order: bool) -> Params:
        """Gradient of ``fn`` at ``fast``: torch.func.grad under vmap, torch.autograd.grad otherwise
        (cheaper); differentiable w.r.t. ``fast`` unless ``first_order`` or gradients are disabled."""
        if _IN_VMAP.get():
            return grad(fn)({n: v.detach() for n, v in fast.items()} if first_order else fast)
        create = not first_order and torch.is_grad_enabled()
        with torch.enable_grad():
            inputs = {n: v if create and v.requires_grad else v.detach().requires_grad_() for n, v in fast.items()}
            gs = torch.autograd.grad(fn(inputs), list(inputs.values()), create_graph=create)
        return dict(zip(inputs, gs))

    def _task(
        self, params: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor, steps: int, weights: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Query loss (weighted over steps with the multi-step loss) and final query outputs of one task."""
        history = self.inner_loop(params, sx, sy, steps)
        if weights is None:
            out = self._query_forward(history[-1], sx, qx)
            return self._loss(out, qy), out
        losses, out = [], None
        for fw in history[1:]:
            out = self._query_forward(fw, sx, qx)
            losses.append(self._loss(out, qy))
        return (torch.stack(losses) * weights).sum(), out

    def _msl_weights(self, steps: int) -> Tensor | None:
        if not (self.multi_step_loss and self.training and steps > 1):
            return None
        frac = min(1.0, float(self.meta_iterations) / max(1, self.msl_anneal))
        last = 1.0 / steps + (1.0 - 1.0 / steps) * frac
        w = torch.full((steps,), (1.0 - last) / (steps - 1))
        w[-1] = last
        return w

    def batched(self, batch: TaskBatch, steps: int | None = None) -> tuple[Tensor, Tensor]:
        """Per-task query losses ``[B]`` and query outputs ``[B, Q, ...]`` for a batch of tasks."""
        if self.task_type == "classification":
            self.check_classes(batch.support_y.reshape(-1), batch.ways)
        return self._batched(batch, steps)

    def _batched(self, batch: TaskBatch, steps: int | None = None) -> tuple[Tensor, Tensor]:
        """`batched` without the label check (for callers that have checked the whole meta-batch)."""
        steps = self._steps() if steps is None else steps
        params, w = self._params(), self._msl_weights(steps)
        if w is not None:
            w = w.to(batch.support_x.device)
        args = (batch.support_x, batch.support_y, batch.query_x, batch.query_y)
        if self._use_vmap(batch.support_x):
            fn = task_vmap(lambda sx, sy, qx, qy: self._task(params, sx, sy, qx, qy, steps, w))
            return fn(*args)
        outs = [self._task(params, *a, steps, w) for a in zip(*args)]
        return torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])

    def _use_vmap(self, x: Tensor) -> bool:
        return self.batching == "vmap" or (self.batching == "auto" and x.device.type != "cpu")

    # ---- Learner API -------------------------------------------------------------------------------------
    def check_classes(self, support_y: Tensor, ways: int | None) -> int:
        """`check_labels`, and no more classes than the network's output layer (when it ends in one) has."""
        ways = check_labels(support_y, ways)
        last = list(self.module.modules())[-1]
        if isinstance(last, nn.Linear) and ways > last.out_features:
            n = last.out_features
            raise ValueError(
                f"{ways}-way task, but this {type(self).__name__} model's output layer has {n} classes "
                f"(it was built for {n}-way tasks, the configuration's ways). Use at most {n} classes, "
                f"or train a model with --set ways={ways} --set train_ways={ways}."
            )
        return ways

    def check_one_task(self, x: Tensor, what: str) -> None:
        """Images of one task, ``[N, C, H, W]``: the convolutions take no further leading dimensions."""
        shape = getattr(self, "input_shape", None)
        if shape is not None and isinstance(x, Tensor) and x.dim() != len(shape) + 1:
            raise ValueError(
                f"{type(self).__name__} adapts one task at a time: {what} must be [N, "
                f"{', '.join(map(str, shape))}], got shape {tuple(x.shape)}; use predict_batch for a "
                f"batch of tasks."
            )

    def adapt(self, support_x: Tensor, support_y: Tensor, ways: int | None = None) -> FastWeights:
        """Fast weights for one task (``test_inner_steps`` in ``eval()``); this module is not modified."""
        self.check_one_task(support_x, "support_x")
        if self.task_type == "classification":
            self.check_classes(support_y, ways)
        differentiable = torch.is_grad_enabled()  # under no_grad nobody back-propagates through the adaptation:
        with torch.enable_grad():  # first-order steps, the same weights without the graph
            fast = self.inner_loop(
                self._params(), support_x, support_y, self._steps(), first_order=None if differentiable else True
            )[-1]
        return FastWeights(self, fast, support_x)

    def predict_batch(self, batch: TaskBatch) -> Prediction:
        return self._wrap(self.batched(batch)[1])

    def _chunked_meta_loss(self, batch: TaskBatch, size: int) -> tuple[Tensor, Tensor]:
        """Back-propagates each chunk of ``size`` tasks as soon as it is done, so only one chunk's graph is
        alive at a time (peak memory of the chunk, not of the meta-batch). Returns a loss whose value is the
        meta-loss and whose gradient is the accumulated meta-gradient (exactly the same numbers)."""
        params = [p for p in self.parameters() if p.requires_grad]
        total, outs, acc = 0.0, [], [torch.zeros_like(p) for p in params]
        for part in batch.chunks(size):
            losses, out = self._batched(part)
            part_loss = losses.sum() / len(batch)
            grads = torch.autograd.grad(part_loss, params, allow_unused=True)
            for a, g in zip(acc, grads):
                if g is not None:
                    a.add_(g)
            total += part_loss.item()
            outs.append(out.detach())
        surrogate = sum((p * g).sum() for p, g in zip(params, acc))
        return surrogate + (total - surrogate).detach(), torch.cat(outs)

    def meta_loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        if self.task_type == "classification":
            self.check_classes(batch.support_y.reshape(-1), batch.ways)
        chunk = self.task_chunk if self._use_vmap(batch.support_x) else 1
        if torch.is_grad_enabled() and chunk is not None and chunk < len(batch):
            loss, out = self._chunked_meta_loss(batch, chunk)
        else:
            losses, out = self._batched(batch)
            loss = losses.mean()
        metrics = {"loss": loss.item()}
        if self.task_type == "classification":
            metrics["acc"] = (out.argmax(-1) == batch.query_y).float().mean().item()
        if self.training:
            self.meta_iterations += 1
        return loss, metrics


def head_filter(module: nn.Module) -> Callable[[str], bool]:
    """Names of the parameters of the last submodule that owns parameters (the classifier head)."""
    last = None
    for name, m in module.named_modules():
        if any(True for _ in m.parameters(recurse=False)):
            last = name
    if last is None:
        raise ValueError(f"{type(module).__name__} has no parameters to adapt.")
    prefix = f"{last}." if last else ""
    return lambda n: n.startswith(prefix) and "." not in n[len(prefix) :]


def common_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    """Learner arguments shared by the gradient-based presets."""
    return dict(
        inner_lr=cfg.get("inner_lr", INNER_LR),
        inner_steps=cfg.get("inner_steps", 1),
        test_inner_steps=cfg.get("test_inner_steps"),
        bn=cfg.get("bn", "transductive"),
        batching=cfg.get("batching", "auto"),
        task_chunk=cfg.get("task_chunk") or None,
        task_type="regression" if cfg.get("dataset") == "sinusoid" else "classification",
    )
