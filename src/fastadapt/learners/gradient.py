"""The functional inner loop shared by the gradient-based learners (MAML, first-order MAML, Meta-SGD, ANIL,
MAML++, Reptile).

Fast weights are dictionaries of tensors run through `torch.func.functional_call`; a meta-batch of tasks is
adapted in one call, either with `torch.func.vmap` over tasks or with a per-task loop (``batching``); both
give the same numbers. The learner works on its own copy of the network, so the module a user passes in is
never changed, neither by ``adapt`` nor by meta-training (``learner.module`` is the meta-trained network).
The copy is `fastadapt.nn.functional_copy.functional_copy`'s; each inner step is an
`fastadapt.optim.inner.InnerOptimizer`'s (plain SGD, Meta-SGD's or MAML++'s learned rates, or a learned rule).

BatchNorm (Ioffe & Szegedy 2015) inside the copy uses the statistics of each forward pass, per task. Its mode is
explicit (``bn``):

* ``"transductive"`` (Finn et al. 2017): every forward pass normalizes with the statistics of the examples it
  is given, i.e. the support set in the inner loop and the task's whole query set at prediction.
* ``"support"`` (non-transductive): queries are normalized with the statistics of the task's support set at
  the adapted weights, so each query is predicted independently of the others.

Running statistics are neither used nor updated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad

from ..nn.episodic import autocast
from ..nn.functional_copy import functional_copy, in_task_vmap, support_statistics, task_vmap
from ..optim.inner import LR_MODES, SGD, InnerOptimizer, check_rate, make_inner_optimizer
from ..tasks.task import TaskBatch
from .base import Learner, Prediction, check_labels

__all__ = ["GradientLearner", "FastWeights", "functional_copy", "task_vmap", "head_filter"]

BN_MODES = ("transductive", "support")
BATCHING = ("auto", "vmap", "loop")
# batching="auto" on the CPU: one vmap call over the meta-batch when a task's support + query inputs hold at most this
# many values, else a loop over tasks. Measured (benchmarks/maml_batching.py, results/maml_batching.json; 2 cores,
# second order): vmap 1.18x faster at 10 Omniglot images a task (7,840 values; 5-way 1-shot, 1 query), but 0.83-0.86x
# at 40-50 (31,360-39,200) and 0.74x at 80 mini-ImageNet images, with 3-10x the loop's memory.
CPU_VMAP_MAX_VALUES = 16_000
INNER_LR = 0.4  # Finn 2017's Omniglot inner learning rate: the default of every gradient-based learner


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
        inner_optimizer: any `fastadapt.optim.inner.InnerOptimizer` (e.g. a learned rule, `LearnedRuleStep`)
            instead of the one ``lr_mode`` and ``inner_lr`` name; its weights are meta-trained with the rest.
        multi_step_loss: MAML++ multi-step loss: the query loss after every inner step, weighted; the weight
            moves linearly to the last step over ``msl_anneal`` meta-iterations.
        bn: BatchNorm statistics mode, ``"transductive"`` or ``"support"`` (module docstring).
        batching: ``"vmap"`` (`torch.func.vmap` over the tasks), ``"loop"`` (one task after the other), or
            ``"auto"``: vmap on accelerators; on the CPU vmap for small tasks (at most `CPU_VMAP_MAX_VALUES` input
            values, e.g. Omniglot 5-way 1-shot with one query a class: 1.18x) and the loop for larger ones (faster
            there, and a fraction of vmap's memory). Every choice gives the same numbers.
        task_chunk: in meta-training under vmap, the trainer adapts and back-propagates this many tasks at a time
            (`backward_chunk`, `fastadapt.train.backward.meta_backward`), so peak memory follows the chunk instead
            of the meta-batch (``None``: the whole meta-batch in one call). The loop path back-propagates task by
            task; Reptile keeps no meta-graph and ignores it. Same numbers for every value.
        task_type: ``"classification"`` (cross-entropy on logits) or ``"regression"`` (squared error).
    """

    supports_precision = ("fp32", "bf16", "fp16")

    def __init__(
        self,
        module: nn.Module,
        inner_lr: float = INNER_LR,
        inner_steps: int = 1,
        *,
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
        inner_optimizer: InnerOptimizer | None = None,
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
        if inner_optimizer is None:
            adapted = {n: p for n, p in self.module.named_parameters() if n in self.adapt_names}
            inner_optimizer = make_inner_optimizer(lr_mode, adapted, inner_lr, max(inner_steps, self.test_inner_steps))
        elif not isinstance(inner_optimizer, InnerOptimizer):
            raise TypeError(
                f"inner_optimizer must be a fastadapt.optim.inner.InnerOptimizer (SGD, PerParameterSGD, "
                f"PerLayerStepSGD, LearnedRuleStep), got {type(inner_optimizer).__name__}."
            )
        self.inner_optimizer = inner_optimizer
        self._count_iterations = True  # False inside one_meta_iteration (chunks of one meta-batch)
        self.register_buffer("meta_iterations", torch.zeros((), dtype=torch.long))

    # Checkpoints written before the inner optimizers existed kept the learned rates at ``lrs.<i>``.
    renamed_state_keys = {"lrs.": "inner_optimizer.lrs."}

    @property
    def inner_lr(self) -> float:
        """The inner learning rate (for learned rates: their initial value)."""
        return self.inner_optimizer.lr

    @inner_lr.setter
    def inner_lr(self, value: float) -> None:
        if not isinstance(self.inner_optimizer, SGD):
            raise AttributeError(
                f"inner_lr sets plain SGD's rate; this learner's inner optimizer is "
                f"{type(self.inner_optimizer).__name__}, whose rates are meta-learned parameters."
            )
        self.inner_optimizer.lr = self.inner_optimizer.later_lr = check_rate("inner_lr", value)

    @property
    def lrs(self) -> nn.ParameterList:
        """The meta-learned inner rates (Meta-SGD, MAML++), one tensor per adapted parameter."""
        return self.inner_optimizer.lrs

    # ---- functional pieces -------------------------------------------------------------------------------

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
        with support_statistics(s):
            return self._forward(params, torch.cat([support_x, x]))[s:]

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
        state = self.inner_optimizer.init_state(fast)
        for step in range(steps):
            fast, state = self.inner_optimizer.step(fast, self._grad(support_loss, fast, first_order), state, step)
            history.append({**frozen, **fast})
        return history

    @staticmethod
    def _grad(fn: Callable[[Params], Tensor], fast: Params, first_order: bool) -> Params:
        """Gradient of ``fn`` at ``fast``: torch.func.grad under vmap, torch.autograd.grad otherwise
        (cheaper); differentiable w.r.t. ``fast`` unless ``first_order`` or gradients are disabled."""
        if in_task_vmap():
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
        if self._use_vmap(batch):
            fn = task_vmap(lambda sx, sy, qx, qy: self._task(params, sx, sy, qx, qy, steps, w))
            return fn(*args)
        outs = [self._task(params, *a, steps, w) for a in zip(*args)]
        return torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])

    def _use_vmap(self, batch: TaskBatch) -> bool:
        """``batching``; ``"auto"``: vmap on accelerators, and on the CPU for tasks of at most `CPU_VMAP_MAX_VALUES`
        input values (support and query)."""
        if self.batching != "auto":
            return self.batching == "vmap"
        if batch.support_x.device.type != "cpu":
            return True
        return batch.support_x[0].numel() + batch.query_x[0].numel() <= CPU_VMAP_MAX_VALUES

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

    def backward_chunk(self, batch: TaskBatch) -> int | None:
        """Tasks back-propagated at a time by the trainer: ``task_chunk`` under vmap, one on the loop path (whose
        tasks are adapted one after the other anyway, so only one task's graph is ever alive)."""
        return self.task_chunk if self._use_vmap(batch) else 1

    @contextlib.contextmanager
    def one_meta_iteration(self) -> Iterator[None]:
        self._count_iterations = False
        try:
            yield
        finally:
            self._count_iterations = True
        if self.training:
            self.meta_iterations += 1

    def meta_loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        if self.task_type == "classification":
            self.check_classes(batch.support_y.reshape(-1), batch.ways)
        losses, out = self._batched(batch)
        loss = losses.mean()
        metrics = {"loss": loss.item()}
        if self.task_type == "classification":
            metrics["acc"] = (out.argmax(-1) == batch.query_y).float().mean().item()
        if self.training and self._count_iterations:
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
