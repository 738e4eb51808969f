"""Support-set fine-tuning at test time for any trained learner over an image encoder: "pre-train, meta-train, then
fine-tune" (Hu, Li, Stühmer, Kim & Hospedales 2022, P>M>F). Before adapting, a copy of the learner's encoder takes a few
gradient steps on pseudo-tasks made from the support set alone: one augmented view of the support images serves as
the support set, another as the queries, scored by the learner's own prediction rule."""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from ..tasks.augment import natural_image_augment, random_hflip
from ..tasks.task import TaskBatch
from .base import EncoderLearner, Learner, Predictor, check_finite, check_labels


class SupportFineTuning(Learner):
    """Wraps a trained `EncoderLearner`: ``adapt`` fine-tunes a copy of its encoder for ``steps`` Adam steps of
    learning rate ``lr`` on the support set, then adapts with the copy (the wrapped learner is never changed).
    BatchNorm keeps its running statistics throughout (each query is still classified on its own)."""

    def __init__(self, learner: EncoderLearner, steps: int = 20, lr: float = 1e-4, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(learner, EncoderLearner):
            raise ValueError(
                f"Support-set fine-tuning needs a learner over an image encoder, not {type(learner).__name__}."
            )
        if steps < 1 or lr <= 0:
            raise ValueError(f"Fine-tuning needs steps >= 1 and lr > 0, got steps={steps}, lr={lr}.")
        self.learner, self.steps, self.lr, self.seed = learner, steps, lr, seed
        self.task_type = learner.task_type

    def views(self, x: Tensor, g: torch.Generator) -> Tensor:
        """An augmented view of the support images: crop, flip and colour jitter for colour images, flips otherwise."""
        return natural_image_augment(x, g) if x.shape[-3] == 3 else random_hflip(x, g)

    def tuned_copy(self, support_x: Tensor, support_y: Tensor, ways: int) -> EncoderLearner:
        tuned = copy.deepcopy(self.learner).eval()
        tuned.configure_encoder(False, tuned.tta_flip, tuned.tta_crop, tuned.tta_crop_weight)
        tuned.eval()
        opt = torch.optim.Adam(tuned.encoder.parameters(), lr=self.lr)
        g = torch.Generator().manual_seed(self.seed)
        y = support_y[None]
        with torch.enable_grad():
            for _ in range(self.steps):
                task = TaskBatch(self.views(support_x[None], g), y, self.views(support_x[None], g), y, ways=ways)
                loss = tuned.predict_jointly(task).loss(y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        return tuned

    def adapt(self, support_x: Tensor, support_y: Tensor, ways: int | None = None) -> Predictor:
        ways = check_labels(support_y, ways)
        check_finite(support_x)
        return self.tuned_copy(support_x, support_y, ways).adapt(support_x, support_y, ways)
