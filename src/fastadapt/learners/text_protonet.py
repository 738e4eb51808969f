"""Prototypical Networks (Snell 2017) over a pretrained sentence encoder (all-MiniLM-L6-v2), for few-shot
intent classification: ``protonet-frozen`` reads precomputed frozen embeddings (the baseline; only the
softmax temperature is meta-learned, which changes no prediction), ``protonet-finetune`` fine-tunes the
encoder's top layers episodically on token ids. Both classify by scaled cosine similarity to the class means."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .base import METHODS, FeatureLearner, FeaturePredictor, Prediction
from .protonet import class_means, prototype_logits


@dataclass
class CosinePrototypes(FeaturePredictor):
    learner: FrozenProtoNet
    prototypes: Tensor

    def predict_features(self, z: Tensor) -> Prediction:
        return Prediction(logits=prototype_logits(z, self.prototypes, "cosine", self.learner.log_scale.exp()))


@METHODS.register("protonet-frozen")
class FrozenProtoNet(FeatureLearner):
    """ProtoNet on fixed sentence embeddings ``[..., D]``: logits ``s * cos(z, c_k)`` with a learned scale ``s``."""

    def __init__(self, scale: float = 10.0) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))

    def embed(self, x: Tensor) -> Tensor:
        return x

    def adapt_features(self, z: Tensor, y: Tensor, ways: int) -> CosinePrototypes:
        return CosinePrototypes(self, class_means(z, y, ways))


@METHODS.register("protonet-finetune")
class FinetunedProtoNet(FrozenProtoNet):
    """ProtoNet whose encoder (all-MiniLM-L6-v2 on word-piece ids ``[..., L]``) is fine-tuned episodically:
    the top ``finetune_layers`` transformer layers and the temperature are meta-parameters.
    ``encoder`` may be any module mapping ids to embeddings (tests pass a small one)."""

    def __init__(self, encoder: nn.Module | None = None, finetune_layers: int = 2, scale: float = 10.0) -> None:
        super().__init__(scale)
        if encoder is None:
            from ..text.encoder import SentenceEncoder

            encoder = SentenceEncoder(trainable_layers=finetune_layers)
        self.encoder = encoder

    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def pretrained_keys(self) -> list[str]:
        """The encoder's frozen weights and buffers: rebuilt from the installed pretrained encoder, so
        checkpoints hold only the fine-tuned layers and the temperature (see `fastadapt.checkpoint`)."""
        from ..text.encoder import frozen_state_keys

        return frozen_state_keys(self, "encoder.")
