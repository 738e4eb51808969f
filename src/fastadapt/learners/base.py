"""The one abstraction every family shares (see DESIGN.md): adaptation is a function from a support
set to a predictor. A `Learner` is an `nn.Module` whose parameters are the meta-parameters."""

from __future__ import annotations

import contextlib
import functools
import math
import operator
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.episodic import CROP_WEIGHT, batch_statistics, check_precision, embed, embed_views
from ..registry import Registry
from ..tasks.task import TaskBatch

METHODS = Registry("method")  # name -> Learner subclass (fastadapt.configs builds it from a run's settings)
EVAL_BN = ("running", "transductive")


@dataclass
class Prediction:
    """What a predictor returns: class ``logits`` (classification) or a Gaussian ``mean``/``var``
    (regression). Leading dimensions are free (``[Q, N]`` for one task, ``[B, Q, N]`` for a batch)."""

    logits: Tensor | None = None
    mean: Tensor | None = None
    var: Tensor | None = None
    temperature: float = 1.0  # the calibration temperature the logits were already divided by (`calibrated`)

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
    def stack(preds: list[Prediction]) -> Prediction:
        def st(name: str) -> Tensor | None:
            vals = [getattr(p, name) for p in preds]
            return None if vals[0] is None else torch.stack(vals)

        return Prediction(st("logits"), st("mean"), st("var"), preds[0].temperature)


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
    # test-time logits are divided by it (temperature scaling, Guo 2017; fitted by `fastadapt calibrate`; `calibrated`)
    calibration_temperature: float = 1.0
    input_shape: tuple[int, int, int] | None = None  # [C, H, W] of the images it takes (set by build_learner)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every learner's own ``adapt`` gets the same input checks at the API boundary (`check_support`), and the
        predictor it returns refuses non-finite queries: one clear ``ValueError`` each, the same words everywhere."""
        super().__init_subclass__(**kwargs)
        raw = cls.__dict__.get("adapt")
        if raw is not None and not getattr(raw, "_checked", False):

            @functools.wraps(raw)
            def adapt(self, support_x, support_y=None, ways=None):
                check_tensors(self, support_x, support_y, ways)
                check_support(support_x, support_y, ways, self.task_type)
                check_input_shape(self, support_x, "support_x")
                if isinstance(support_y, Tensor) and support_y.dtype in (torch.int32, torch.int16, torch.uint8):
                    support_y = support_y.long()  # class indices of any integer dtype check_labels takes
                return guard_queries(raw(self, support_x, support_y, ways), self, support_x)

            adapt._checked = True
            cls.adapt = adapt
        batched = cls.__dict__.get("predict_batch")
        if batched is not None and not getattr(batched, "_checked", False):

            @functools.wraps(batched)
            def predict_batch(self, batch):
                check_input_shape(self, getattr(batch, "support_x", None), "support_x")
                check_input_shape(self, getattr(batch, "query_x", None), "query_x")
                return calibrated(batched(self, batch), self)

            predict_batch._checked = True
            cls.predict_batch = predict_batch

    supports_eval_bn: bool = False
    precision: str = "fp32"
    supports_precision: tuple[str, ...] = ("fp32",)
    global_labels: bool = False  # trained on batches labelled by class id (supervised pre-training)
    adapts_batches: bool = False  # adapt takes [B, S, ...] support sets and its predictor [B, Q, ...] queries

    def set_precision(self, precision: str) -> None:
        """Compute precision of the learner's heavy part (``"fp32"``, ``"bf16"``; ``"fp16"`` on CUDA); weights stay
        fp32. Learners list what they offer in ``supports_precision``."""
        check_precision(precision)
        if precision not in self.supports_precision:
            raise ValueError(
                f"{type(self).__name__} offers precision {list(self.supports_precision)}, not "
                f"{precision!r}; use one of those."
            )
        self.precision = precision

    def set_eval_bn(self, mode: str) -> None:
        if mode not in EVAL_BN:
            raise ValueError(f"eval_bn must be one of {EVAL_BN}, got {mode!r}.")
        if mode != "running" and not self.supports_eval_bn:
            supported = sorted(n for n, c in METHODS.items() if getattr(c, "supports_eval_bn", False))
            raise ValueError(
                f"{type(self).__name__} does not offer eval_bn={mode!r}; the learners that do: "
                f"{', '.join(supported)}. Leave eval_bn at 'running' for this one."
            )
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
        """Predictions for the queries of every task in ``batch`` (leading dimension ``B``): derived from `adapt`,
        in one call when the learner's ``adapt`` takes leading task dimensions (``adapts_batches``), else task by
        task. Learners override it only for a genuinely different batched computation."""
        if self.adapts_batches:
            return self.adapt(batch.support_x, batch.support_y, batch.ways).predict(batch.query_x)
        return Prediction.stack([self.adapt(t.support_x, t.support_y, t.ways).predict(t.query_x) for t in batch])

    def embed_jointly(self, batch: TaskBatch) -> tuple[Tensor, Tensor]:
        """Support and query features of every task in one pass of ``self.embed`` (one set of BatchNorm statistics
        for the whole batch, as in Snell et al.'s code): ``([B, S, ...], [B, Q, ...])``."""
        s = batch.support_x.shape[1]
        z = self.embed(torch.cat([batch.support_x, batch.query_x], dim=1))
        return z[:, :s], z[:, s:]

    def meta_loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        """The meta-training objective on a batch of tasks, and metrics to log."""
        pred = self.predict_batch(batch)
        loss = pred.loss(batch.query_y)
        metrics = {"loss": loss.item()}
        if pred.logits is not None:
            metrics["acc"] = pred.accuracy(batch.query_y).item()
        return loss, metrics

    def backward_chunk(self, batch: TaskBatch) -> int | None:
        """How many tasks of ``batch`` the trainer should run and back-propagate at a time to bound peak memory
        (`fastadapt.train.backward.meta_backward`); ``None``: the whole batch at once."""
        return None

    def one_meta_iteration(self) -> contextlib.AbstractContextManager:
        """A block in which several `meta_loss` calls (the chunks of one meta-batch) count as one meta-iteration
        for learners that count them (MAML++'s multi-step loss anneals by meta-iterations)."""
        return contextlib.nullcontext()


class FeaturePredictor:
    """A task adapted in a learner's feature space: `predict_features` reads query features ``[..., Q, D]`` (or maps);
    `predict` reads images, embedding them with the learner's `test_embed` first."""

    learner: FeatureLearner

    def predict_features(self, z: Tensor) -> Prediction:
        raise NotImplementedError

    def predict(self, x: Tensor) -> Prediction:
        return self.predict_features(self.learner.test_embed(x))


class FeatureLearner(Learner):
    """A learner that adapts in the feature space of its `embed` (the metric learners, VERSA, the pre-training
    baseline). It is written once, as `adapt_features` on support features with any leading task dimensions;
    `adapt` (one task's images) and `predict_batch` (a batch whose support and query images are embedded in one
    encoder pass, `embed_jointly`, as in Snell et al.'s code) are both derived from it."""

    def embed(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def test_embed(self, x: Tensor) -> Tensor:
        """The features `adapt` and `FeaturePredictor.predict` use (`embed`; see `EncoderLearner`)."""
        return self.embed(x)

    def adapt_features(self, support_z: Tensor, support_y: Tensor, ways: int) -> FeaturePredictor:
        """The task adapted from support features ``[..., S, D]`` and labels ``[..., S]``."""
        raise NotImplementedError

    def adapt(self, support_x: Tensor, support_y: Tensor, ways: int | None = None) -> FeaturePredictor:
        ways = check_labels(support_y, ways)
        return self.adapt_features(self.test_embed(support_x), support_y, ways)

    def predict_jointly(self, batch: TaskBatch) -> Prediction:
        """Every task of ``batch`` at once, its support and query images embedded in one pass."""
        support, query = self.embed_jointly(batch)
        return self.adapt_features(support, batch.support_y, batch.ways).predict_features(query)

    def predict_batch(self, batch: TaskBatch) -> Prediction:
        return self.predict_jointly(batch)


class EncoderLearner(FeatureLearner):
    """A `FeatureLearner` over an image encoder ``self.encoder`` that offers both BatchNorm test protocols
    (``eval_bn``): the batched path embeds the support and query sets of all tasks in one encoder pass; with
    ``eval_bn="transductive"`` at test time each task is instead adapted on its own (support and queries each
    normalized by their own batch statistics)."""

    supports_eval_bn = True
    supports_precision = ("fp32", "bf16", "fp16")
    frozen_encoder = False  # encoder fixed (no gradients, BatchNorm on running statistics)
    tta_flip = False  # test-time features: the mean of an image's and its mirror image's
    tta_crop = 0  # > 0: test-time features mixed with those of the image's five crops of this side (pixels)
    tta_crop_weight = CROP_WEIGHT
    features_given = False  # inputs are already encoder features (set by evaluation over frozen features)

    def configure_encoder(
        self, freeze: bool = False, tta_flip: bool = False, tta_crop: int = 0, tta_crop_weight: float = CROP_WEIGHT
    ) -> None:
        """``freeze``: keep the encoder as it is (a pretrained backbone used as a fixed feature extractor; only the
        rest of the learner, if anything, trains). ``tta_flip``: average features with the mirror image's at test.
        ``tta_crop`` (pixels, 0 = off) and ``tta_crop_weight``: mix in the five crops' features at test
        (`embed_views`)."""
        if tta_crop < 0 or not 0.0 < tta_crop_weight <= 1.0:
            raise ValueError(
                f"tta_crop must be >= 0 pixels (0: no crops) and tta_crop_weight in (0, 1] (1: the crops' features "
                f"alone), got tta_crop={tta_crop}, tta_crop_weight={tta_crop_weight}."
            )
        self.frozen_encoder, self.tta_flip = bool(freeze), bool(tta_flip)
        self.tta_crop, self.tta_crop_weight = int(tta_crop), float(tta_crop_weight)
        self.encoder.requires_grad_(not freeze)
        self.train(self.training)

    @property
    def test_views(self) -> dict[str, Any]:
        """The test-time views features are built from (`embed_views`' arguments)."""
        return {"flip": self.tta_flip, "crop": self.tta_crop, "crop_weight": self.tta_crop_weight}

    def train(self, mode: bool = True) -> EncoderLearner:
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
        if self.training:
            return embed(self.encoder, x, self.precision)
        return embed_views(self.encoder, x, self.precision, **self.test_views)

    def test_embed(self, x: Tensor) -> Tensor:
        """:meth:`embed`, with batch statistics in BatchNorm when testing transductively."""
        with self.test_statistics():
            return self.embed(x)

    def predict_batch(self, batch: TaskBatch) -> Prediction:
        if self.transductive_eval:  # each task normalized by its own examples
            return Learner.predict_batch(self, batch)
        return self.predict_jointly(batch)


def check_support(support_x: Any, support_y: Any, ways: int | None, task_type: str) -> None:
    """The checks every learner's ``adapt`` runs first: a non-empty support set, as many labels as examples, finite
    values, and class labels in ``0..ways-1``. Inputs that are not tensors (text prompts) are left to the learner."""
    if not isinstance(support_x, Tensor) or not isinstance(support_y, Tensor):
        return
    if support_x.shape[:1] != support_y.shape[:1]:
        raise ValueError(
            f"support_x holds {support_x.shape[0] if support_x.dim() else 0} examples but support_y "
            f"{support_y.shape[0] if support_y.dim() else 0} labels; give one label per example."
        )
    if support_x.numel() == 0 or support_y.numel() == 0:
        raise ValueError("The support set is empty; adapt needs at least one labelled example (per class).")
    check_finite(support_x, "support_x")
    if support_y.is_floating_point():
        check_finite(support_y, "support_y")
    elif task_type == "classification":
        check_labels(support_y, ways)


def check_input_shape(learner: Any, x: Any, what: str) -> None:
    """Images whose ``[C, H, W]`` is not the learner's ``input_shape`` (its configuration's ``channels`` and
    ``image_size``) are refused with both shapes, instead of failing inside a convolution or a linear head."""
    want = getattr(learner, "input_shape", None)
    if want is None or not isinstance(x, Tensor) or getattr(learner, "features_given", False):
        return
    if x.dim() < 4 or tuple(x.shape[-3:]) != tuple(want):
        c, h, w = want
        raise ValueError(
            f"{what} has shape {tuple(x.shape)}, but this model takes images of shape [..., {c}, {h}, "
            f"{w}] ({c} channel{'s' if c > 1 else ''}, {h}x{w} pixels: its configuration's channels "
            f"and image_size). Convert and resize the images first (`fastadapt adapt` does so for "
            f"image files)."
        )


def guard_queries(predictor: Any, learner: Any = None, support_x: Any = None) -> Any:
    """``predictor.predict`` refuses non-finite queries (instead of returning NaN predictions in silence), and
    images of another shape than ``learner`` takes (regression: points of another layout than ``support_x``); at
    test time (``learner`` in eval mode) it refuses to return NaN or infinite predictions too."""
    predict = getattr(predictor, "predict", None)
    if predict is None:
        return predictor

    def checked(x: Any, *args: Any, **kwargs: Any) -> Any:
        check_query_tensor(learner, x, support_x)
        if isinstance(x, Tensor):
            check_finite(x, "query_x")
            check_input_shape(learner, x, "query_x")
        pred = predict(x, *args, **kwargs)
        if learner is not None and not learner.training and isinstance(x, Tensor):
            check_prediction(pred, x)
        return calibrated(pred, learner)

    try:
        object.__setattr__(predictor, "predict", checked)
    except (AttributeError, TypeError):
        pass  # a predictor with slots keeps its own checks
    return predictor


class InputTypeError(ValueError, TypeError):
    """An input of the wrong type or dtype: a ValueError like every input the learners refuse (and a TypeError, as
    wrong label dtypes were before)."""


WAYS_ERROR = "ways must be a positive integer (the number of classes in the support set), got {!r}."


def _takes_float_tensors(learner: Any) -> bool:
    """Image models (``input_shape`` set) and regression learners take float32 tensors; text and sequence learners
    take other inputs (prompts, token ids) and check them themselves."""
    return getattr(learner, "input_shape", None) is not None or getattr(learner, "task_type", "") == "regression"


def _model_dtype(learner: Any) -> torch.dtype:
    """The dtype of the learner's weights (float32, unless it was converted, e.g. ``.double()``)."""
    for p in learner.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _check_float32(learner: Any, x: Any, what: str) -> None:
    """A tensor of the model's floating dtype (float32 for any model built from a configuration)."""
    if not isinstance(x, Tensor):
        raise InputTypeError(
            f"{what} must be a torch.Tensor, got {type(x).__name__}; convert it with torch.as_tensor(...)."
        )
    want = _model_dtype(learner)
    if x.dtype != want:
        images = getattr(learner, "input_shape", None) is not None
        convert = "x.float()" if want == torch.float32 else f"x.to({want})"
        hint = f" (uint8 pixels: {convert} / 255)" if images and not (x.is_floating_point() or x.is_complex()) else ""
        raise InputTypeError(
            f"{what} has dtype {x.dtype}, but this model takes {str(want).replace('torch.', '')} "
            f"{'images with values in [0, 1]' if images else 'values'}; convert it with "
            f"{convert}{hint}."
        )


def check_tensors(learner: Any, support_x: Any, support_y: Any, ways: Any) -> None:
    """What `check_support` cannot see on its own: ``ways`` is an integer, and for image models and regression
    learners the support set is tensors of the model's dtype (float32), its labels / targets laid out like its
    examples (one integer label per image, at most ``ways`` classes for as many images; regression: ``[..., N, dim]``
    points and targets of the model's dimensions)."""
    if learner.task_type == "classification" and ways is not None:
        try:
            if isinstance(ways, bool):
                raise TypeError
            ways = operator.index(ways)
        except TypeError:
            raise ValueError(WAYS_ERROR.format(ways)) from None
        if ways < 1:
            raise ValueError(WAYS_ERROR.format(ways))
    if not _takes_float_tensors(learner):
        return
    _check_float32(learner, support_x, "support_x")
    if not isinstance(support_y, Tensor):
        raise InputTypeError(
            f"support_y must be a torch.Tensor, got {type(support_y).__name__}; convert it with torch.as_tensor(...)."
        )
    if learner.task_type == "regression":
        _check_float32(learner, support_y, "support_y")
        if getattr(learner, "scalar_targets", False):
            if support_x.dim() < 2 or support_y.shape != support_x.shape[:-1]:
                raise ValueError(
                    f"support_x must be [..., N, dim] and support_y [..., N] (one scalar target per "
                    f"point), got {tuple(support_x.shape)} and {tuple(support_y.shape)}."
                )
            return
        if support_x.dim() < 2 or support_y.dim() < 2 or support_x.shape[:-1] != support_y.shape[:-1]:
            raise ValueError(
                f"support_x and support_y must be [..., N, dim] with the same leading shape, got "
                f"{tuple(support_x.shape)} and {tuple(support_y.shape)}. Add a trailing dimension for "
                f"1-D data (x.unsqueeze(-1))."
            )
        dims = getattr(learner, "point_dims", None)
        if dims is not None and (support_x.shape[-1], support_y.shape[-1]) != tuple(dims):
            raise ValueError(
                f"support_x and support_y hold points of dimension {support_x.shape[-1]} with targets "
                f"of dimension {support_y.shape[-1]}, but this model takes dimension {dims[0]} with "
                f"targets of dimension {dims[1]} (shapes [..., N, {dims[0]}] and [..., N, {dims[1]}])."
            )
        return
    if support_x.shape[:1] != support_y.shape[:1]:
        return  # check_support reports the counts of examples and labels
    if support_x.dim() >= 4 and support_y.shape != support_x.shape[:-3]:
        raise ValueError(
            f"support_y has shape {tuple(support_y.shape)}, but support_x holds images of shape "
            f"{tuple(support_x.shape[-3:])} in leading dimensions {tuple(support_x.shape[:-3])}: give "
            f"one class index per image, a tensor of shape {tuple(support_x.shape[:-3])}."
        )
    if ways is not None and not support_y.is_floating_point() and ways > support_y.numel() > 0:
        raise ValueError(
            f"ways={ways} classes, but the support set holds {support_y.numel()} examples: every class "
            f"needs at least one. Pass the number of classes the labels 0..ways-1 name."
        )


def check_query_tensor(learner: Any, x: Any, support_x: Any = None) -> None:
    """Queries of image models and regression learners: float32 tensors; regression queries are points like the
    support set's (``[..., Q, dim]``, same leading dimensions and dim)."""
    if learner is None or not _takes_float_tensors(learner):
        return
    _check_float32(learner, x, "query_x")
    if (
        learner.task_type == "regression"
        and isinstance(support_x, Tensor)
        and (x.dim() != support_x.dim() or x.shape[:-2] != support_x.shape[:-2] or x.shape[-1] != support_x.shape[-1])
    ):
        want = ", ".join([*map(str, support_x.shape[:-2]), "Q", str(support_x.shape[-1])])
        raise ValueError(
            f"query_x has shape {tuple(x.shape)}, but the support points have shape "
            f"{tuple(support_x.shape)}: give queries of shape ({want}), the same leading dimensions "
            f"and point dimension."
        )


def count_non_finite(pred: Any) -> int:
    """How many values of a prediction are unusable: NaN logits, rows of logits whose largest value is not finite
    (no softmax), and non-finite regression means or variances."""
    bad = 0
    logits = getattr(pred, "logits", None)
    if isinstance(logits, Tensor) and logits.is_floating_point() and logits.numel():
        bad += int(logits.isnan().sum()) + int((~torch.isfinite(logits.amax(-1))).sum())
    for t in (getattr(pred, "mean", None), getattr(pred, "var", None)):
        if isinstance(t, Tensor) and t.is_floating_point():
            bad += int((~torch.isfinite(t)).sum())
    return bad


def calibrated(pred: Any, learner: Any) -> Any:
    """``pred`` with its logits divided by the learner's ``calibration_temperature`` (temperature scaling, Guo et al.
    2017: the same predicted classes, better-calibrated probabilities), at test time only (``learner`` in eval
    mode) and once (a prediction records the temperature it carries)."""
    t = getattr(learner, "calibration_temperature", 1.0)
    if t == 1.0 or learner.training or not isinstance(pred, Prediction) or pred.logits is None or pred.temperature != 1:
        return pred
    return replace(pred, logits=pred.logits / t, temperature=t)


def check_prediction(pred: Any, x: Tensor) -> None:
    """A prediction from finite queries holds no NaN, no infinite regression outputs, and logits whose softmax is
    defined (-inf logits are fine, a row of them or a +inf is not): when the model's float32 arithmetic overflows,
    say so instead of returning NaN in silence."""
    bad = count_non_finite(pred)
    if bad:
        big = float(x.abs().max()) if x.numel() else 0.0
        raise ValueError(
            f"The prediction holds {bad} NaN or infinite values although the inputs are finite: support "
            f"or query values this large (largest |query_x| {big:.3g}) overflow the model's float32 "
            f"arithmetic. Give images with values in [0, 1] (regression values of moderate size); if "
            f"the inputs are ordinary, check that the model's weights are finite."
        )


def check_finite(x: Tensor, what: str = "support_x") -> None:
    """Refuse NaN/Inf inputs with a message instead of silently producing NaN predictions."""
    if x.is_floating_point() and not torch.isfinite(x).all():
        n = int((~torch.isfinite(x)).sum())
        raise ValueError(
            f"{what} contains {n} NaN or Inf values; clean the data before "
            f"{'predicting' if what.startswith('query') else 'adapting'}."
        )


def check_labels(support_y: Tensor, ways: int | None) -> int:
    """Number of classes in a support set, checking labels are ``0..ways-1`` with none missing."""
    if support_y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise InputTypeError(f"Support labels must be integer class indices, got dtype {support_y.dtype}.")
    if ways is None:
        ways = int(support_y.max()) + 1
    elif int(ways) < 1:
        raise ValueError(f"ways must be a positive integer (the number of classes in the support set), got {ways!r}.")
    if support_y.numel() and (int(support_y.min()) < 0 or int(support_y.max()) >= ways):
        raise ValueError(
            f"Support labels must lie in 0..{ways - 1}, got range {int(support_y.min())}..{int(support_y.max())}."
        )
    return ways
