"""The one abstraction every family shares (see DESIGN.md): adaptation is a function from a support
set to a predictor. A `Learner` is an `nn.Module` whose parameters are the meta-parameters."""
from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.backbones import BackboneSpec
from ..nn.episodic import batch_statistics, check_precision, embed
from ..registry import Registry
from ..tasks.task import TaskBatch

METHODS = Registry("method")   # name -> Learner subclass with a from_config(cfg) classmethod
EVAL_BN = ("running", "transductive")


@dataclass
class Prediction:
    """What a predictor returns: class ``logits`` (classification) or a Gaussian ``mean``/``var``
    (regression). Leading dimensions are free (``[Q, N]`` for one task, ``[B, Q, N]`` for a batch)."""

    logits: Tensor | None = None
    mean: Tensor | None = None
    var: Tensor | None = None

    @property
    def probs(self) -> Tensor:
        if self.logits is None:
            raise TypeError("This prediction is a regression (mean/var); it has no class probabilities.")
        return self.logits.softmax(-1)

    def loss(self, y: Tensor) -> Tensor:
        """Mean negative log-likelihood of ``y``: cross-entropy, or Gaussian NLL (MSE when no variance)."""
        if self.logits is not None:
            return F.cross_entropy(self.logits.reshape(-1, self.logits.shape[-1]), y.reshape(-1))
        if self.var is None:
            return F.mse_loss(self.mean, y)
        return 0.5 * (torch.log(2 * math.pi * self.var) + (y - self.mean) ** 2 / self.var).mean()

    def accuracy(self, y: Tensor) -> Tensor:
        return (self.logits.argmax(-1) == y).float().mean()

    @staticmethod
    def stack(preds: list["Prediction"]) -> "Prediction":
        def st(name: str) -> Tensor | None:
            vals = [getattr(p, name) for p in preds]
            return None if vals[0] is None else torch.stack(vals)
        return Prediction(st("logits"), st("mean"), st("var"))


class Predictor(Protocol):
    """The adapted state of one task (or a batch of tasks): fast weights, prototypes, a memory, ..."""

    def predict(self, x: Tensor) -> Prediction: ...


class Learner(nn.Module):
    """Base class of all meta-learners.

    Subclasses implement :meth:`adapt`; :meth:`predict_batch` may be overridden with a batched path
    (the default adapts each task of the batch in turn). ``adapt`` never mutates the module.

    ``eval_bn`` sets how BatchNorm normalizes at test time in learners that support the choice
    (``supports_eval_bn``): ``"running"`` (default) with the running averages of training, so each query is
    classified on its own; ``"transductive"`` with batch statistics, the support set and the query set each
    normalized by their own, so a query's prediction depends on the other queries. The released code of
    several papers evaluates the second way (e.g. Sung 2018, Gordon 2019: BatchNorm is never switched to
    inference mode); Bronskill et al. (2020, "TaskNorm") discuss the difference.
    """

    task_type: str = "classification"
    eval_bn: str = "running"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every learner's own ``adapt`` gets the same input checks at the API boundary (`check_support`), and the
        predictor it returns refuses non-finite queries: one clear ``ValueError`` each, the same words everywhere."""
        super().__init_subclass__(**kwargs)
        raw = cls.__dict__.get("adapt")
        if raw is None or getattr(raw, "_checked", False):
            return

        @functools.wraps(raw)
        def adapt(self, support_x, support_y=None, ways=None):
            check_support(support_x, support_y, ways, self.task_type)
            return guard_queries(raw(self, support_x, support_y, ways))

        adapt._checked = True
        cls.adapt = adapt
    supports_eval_bn: bool = False
    precision: str = "fp32"
    supports_precision: tuple[str, ...] = ("fp32",)
    global_labels: bool = False      # trained on batches labelled by class id (supervised pre-training)

    def set_precision(self, precision: str) -> None:
        """Compute precision of the learner's heavy part (``"fp32"``, ``"bf16"``; ``"fp16"`` on CUDA); weights stay
        fp32. Learners list what they offer in ``supports_precision``."""
        check_precision(precision)
        if precision not in self.supports_precision:
            raise ValueError(f"{type(self).__name__} offers precision {list(self.supports_precision)}, not "
                             f"{precision!r}; use one of those.")
        self.precision = precision

    def set_eval_bn(self, mode: str) -> None:
        if mode not in EVAL_BN:
            raise ValueError(f"eval_bn must be one of {EVAL_BN}, got {mode!r}.")
        if mode != "running" and not self.supports_eval_bn:
            supported = sorted(n for n, c in METHODS.items() if getattr(c, "supports_eval_bn", False))
            raise ValueError(f"{type(self).__name__} does not offer eval_bn={mode!r}; the learners that do: "
                             f"{', '.join(supported)}. Leave eval_bn at 'running' for this one.")
        self.eval_bn = mode

    @property
    def transductive_eval(self) -> bool:
        return self.eval_bn == "transductive" and not self.training

    def test_statistics(self) -> contextlib.AbstractContextManager:
        """Batch statistics in BatchNorm inside the block when testing with ``eval_bn="transductive"``."""
        return batch_statistics(self) if self.transductive_eval else contextlib.nullcontext()

    def adapt(self, support_x: Tensor, support_y: Tensor, ways: int | None = None) -> Predictor:
        raise NotImplementedError

    def param_groups(self) -> list[dict[str, Any]]:
        """Parameter groups for the meta-optimizer. A group may carry ``lr_scale``: its learning rate is the
        schedule's times that. The trainer applies it at every step; torch's optimizers ignore the key, so a
        hand-written loop sets ``group["lr"] = lr * group.get("lr_scale", 1.0)`` itself."""
        return [{"params": list(self.parameters())}]

    def predict_batch(self, batch: TaskBatch) -> Prediction:
        """Predictions for the queries of every task in ``batch`` (leading dimension ``B``)."""
        return Prediction.stack([self.adapt(t.support_x, t.support_y, t.ways).predict(t.query_x) for t in batch])

    def meta_loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        """The meta-training objective on a batch of tasks, and metrics to log."""
        pred = self.predict_batch(batch)
        loss = pred.loss(batch.query_y)
        metrics = {"loss": loss.item()}
        if pred.logits is not None:
            metrics["acc"] = pred.accuracy(batch.query_y).item()
        return loss, metrics

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "Learner":
        raise NotImplementedError(f"{cls.__name__} cannot be built from a preset configuration yet.")


class EncoderLearner(Learner):
    """A learner over an image encoder ``self.encoder`` that offers both BatchNorm test protocols
    (``eval_bn``). Subclasses implement :meth:`predict_jointly`, the batched path that embeds the support
    and query sets of all tasks in one encoder pass; with ``eval_bn="transductive"`` at test time each task
    is instead adapted on its own (support and queries each normalized by their own batch statistics)."""

    supports_eval_bn = True
    supports_precision = ("fp32", "bf16", "fp16")
    frozen_encoder = False        # encoder fixed (no gradients, BatchNorm on running statistics)
    tta_flip = False              # test-time features: the mean of an image's and its mirror image's
    features_given = False        # inputs are already encoder features (set by evaluation over frozen features)

    def configure_encoder(self, freeze: bool = False, tta_flip: bool = False) -> None:
        """``freeze``: keep the encoder as it is (a pretrained backbone used as a fixed feature extractor; only the
        rest of the learner, if anything, trains). ``tta_flip``: average features with the mirror image's at test."""
        self.frozen_encoder, self.tta_flip = bool(freeze), bool(tta_flip)
        self.encoder.requires_grad_(not freeze)
        self.train(self.training)

    def train(self, mode: bool = True) -> "EncoderLearner":
        super().train(mode)
        if self.frozen_encoder:
            self.encoder.eval()
        return self

    def pretrained_keys(self) -> list[str]:
        """A frozen pretrained encoder is rebuilt from its package, so checkpoints keep only its checksum."""
        if self.frozen_encoder and getattr(self.encoder, "pretrained", False):
            return [f"encoder.{k}" for k in self.encoder.state_dict()]
        return []

    def embed(self, x: Tensor) -> Tensor:
        """Encoder features of images ``x [..., C, H, W]`` (in fp32; the encoder itself runs in ``precision``)."""
        if self.features_given:
            return x
        z = embed(self.encoder, x, self.precision)
        if self.tta_flip and not self.training:
            z = (z + embed(self.encoder, x.flip(-1), self.precision)) / 2
        return z

    def test_embed(self, x: Tensor) -> Tensor:
        """:meth:`embed`, with batch statistics in BatchNorm when testing transductively."""
        with self.test_statistics():
            return self.embed(x)

    def embed_jointly(self, batch: TaskBatch) -> tuple[Tensor, Tensor]:
        """Support and query features of every task in one encoder pass (one set of BatchNorm statistics for
        the whole batch, as in Snell et al.'s code): ``([B, S, ...], [B, Q, ...])``."""
        s = batch.support_x.shape[1]
        z = self.embed(torch.cat([batch.support_x, batch.query_x], dim=1))
        return z[:, :s], z[:, s:]

    def predict_jointly(self, batch: TaskBatch) -> Prediction:
        raise NotImplementedError

    def predict_batch(self, batch: TaskBatch) -> Prediction:
        if self.transductive_eval:                 # each task normalized by its own examples
            return super().predict_batch(batch)
        return self.predict_jointly(batch)


def check_support(support_x: Any, support_y: Any, ways: int | None, task_type: str) -> None:
    """The checks every learner's ``adapt`` runs first: a non-empty support set, as many labels as examples, finite
    values, and class labels in ``0..ways-1``. Inputs that are not tensors (text prompts) are left to the learner."""
    if not isinstance(support_x, Tensor) or not isinstance(support_y, Tensor):
        return
    if support_x.shape[:1] != support_y.shape[:1]:
        raise ValueError(f"support_x holds {support_x.shape[0] if support_x.dim() else 0} examples but support_y "
                         f"{support_y.shape[0] if support_y.dim() else 0} labels; give one label per example.")
    if support_x.numel() == 0 or support_y.numel() == 0:
        raise ValueError("The support set is empty; adapt needs at least one labelled example (per class).")
    check_finite(support_x, "support_x")
    if support_y.is_floating_point():
        check_finite(support_y, "support_y")
    elif task_type == "classification":
        check_labels(support_y, ways)


def guard_queries(predictor: Any) -> Any:
    """``predictor.predict`` refuses non-finite queries (instead of returning NaN predictions in silence)."""
    predict = getattr(predictor, "predict", None)
    if predict is None:
        return predictor

    def checked(x: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(x, Tensor):
            check_finite(x, "query_x")
        return predict(x, *args, **kwargs)

    try:
        object.__setattr__(predictor, "predict", checked)
    except (AttributeError, TypeError):
        pass                                    # a predictor with slots keeps its own checks
    return predictor


def check_finite(x: Tensor, what: str = "support_x") -> None:
    """Refuse NaN/Inf inputs with a message instead of silently producing NaN predictions."""
    if x.is_floating_point() and not torch.isfinite(x).all():
        n = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{what} contains {n} NaN or Inf values; clean the data before "
                         f"{'predicting' if what.startswith('query') else 'adapting'}.")


def check_labels(support_y: Tensor, ways: int | None) -> int:
    """Number of classes in a support set, checking labels are ``0..ways-1`` with none missing."""
    if support_y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"Support labels must be integer class indices, got dtype {support_y.dtype}.")
    if ways is None:
        ways = int(support_y.max()) + 1
    if support_y.numel() and (int(support_y.min()) < 0 or int(support_y.max()) >= ways):
        raise ValueError(f"Support labels must lie in 0..{ways - 1}, got range "
                         f"{int(support_y.min())}..{int(support_y.max())}.")
    return ways


def backbone_spec(cfg: dict[str, Any]) -> BackboneSpec:
    """The encoder a configuration asks for (``backbone``, ``channels``, ``hidden``, ``image_size``, ``input_mean`` /
    ``input_std``, ``drop_block``): the one place learners' factories read it from."""
    mean, std = cfg.get("input_mean") or None, cfg.get("input_std") or None
    return BackboneSpec(cfg.get("backbone", "conv4"), cfg.get("channels", 1), cfg.get("hidden", 64),
                        cfg.get("image_size", 28), None if mean is None else tuple(mean),
                        None if std is None else tuple(std), cfg.get("drop_block", 0.0))
