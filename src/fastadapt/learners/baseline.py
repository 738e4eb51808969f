"""The baseline users pick first: supervised pre-training on all meta-train classes, then a head fitted on each
support set. Chen et al. (2019, "A Closer Look at Few-shot Classification": Baseline and Baseline++) and Tian et al.
(2020, "Rethinking Few-Shot Image Classification: a Good Embedding Is All You Need", RFS)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..tasks.task import TaskBatch
from .base import METHODS, EncoderLearner, FeaturePredictor, Prediction
from .heads import class_means, fit_logistic, normalize_features, power_transform  # noqa: F401 (re-exported)

HEADS = ("linear", "cosine")
TEST_HEADS = ("prototype", "logistic")


@dataclass
class HeadPredictor(FeaturePredictor):
    """A task adapted by the baseline: a linear head on normalized features."""

    learner: PretrainedBaseline
    weight: Tensor
    bias: Tensor

    def predict_features(self, z: Tensor) -> Prediction:
        return Prediction(logits=normalize_features(z) @ self.weight.transpose(-1, -2) + self.bias.unsqueeze(-2))


@METHODS.register("baseline")
class PretrainedBaseline(EncoderLearner):
    """Supervised pre-training with a ``linear`` classifier over the ``num_classes`` training classes (Chen 2019's
    Baseline, RFS) or a ``cosine`` one (Baseline++), then, per task, a head on L2-normalized support features:
    ``prototype`` (cosine to the class means, times ``scale``) or ``logistic`` (logistic regression, as RFS).

    Meta-training batches are labelled by class id (``global_labels``): the trainer asks the sampler for batches
    over all training classes; a batch's support and query images together form one supervised minibatch.
    """

    global_labels = True

    def __init__(
        self,
        encoder: nn.Module,
        features: int,
        num_classes: int,
        head: str = "linear",
        test_head: str = "prototype",
        scale: float = 10.0,
    ) -> None:
        super().__init__()
        if head not in HEADS or test_head not in TEST_HEADS:
            raise ValueError(
                f"head must be one of {HEADS} and test_head one of {TEST_HEADS}, got {head!r} / {test_head!r}."
            )
        if num_classes < 2:
            raise ValueError(f"Pre-training needs at least 2 classes, got num_classes={num_classes}.")
        self.encoder = encoder.to(memory_format=torch.channels_last)
        self.classifier = nn.Linear(features, num_classes, bias=head == "linear")
        self.head, self.test_head, self.scale = head, test_head, scale

    def train_logits(self, z: Tensor) -> Tensor:
        if self.head == "cosine":
            return self.scale * normalize_features(z) @ F.normalize(self.classifier.weight, dim=-1).T
        return self.classifier(z)

    def meta_loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        """Cross-entropy over all training classes on the batch's images (support and queries alike)."""
        x = torch.cat([batch.support_x, batch.query_x], dim=1)
        y = torch.cat([batch.support_y, batch.query_y], dim=1).reshape(-1)
        if int(y.max()) >= self.classifier.out_features:
            raise ValueError(
                f"Label {int(y.max())} is outside the classifier's {self.classifier.out_features} "
                f"classes; set baseline_classes to the number of training classes."
            )
        logits = self.train_logits(self.embed(x).flatten(0, -2))
        loss = F.cross_entropy(logits, y)
        return loss, {"loss": loss.item(), "acc": (logits.argmax(-1) == y).float().mean().item()}

    def fit_head(self, z: Tensor, y: Tensor, ways: int) -> tuple[Tensor, Tensor]:
        z = normalize_features(z)
        if self.test_head == "logistic":
            return fit_logistic(z, y, ways, scale=self.scale)
        protos = self.scale * F.normalize(class_means(z, y, ways), dim=-1)
        return protos, torch.zeros(protos.shape[:-1], device=z.device)

    def adapt_features(self, z: Tensor, y: Tensor, ways: int) -> HeadPredictor:
        return HeadPredictor(self, *self.fit_head(z, y, ways))
