"""Matching Networks for one-shot learning (Vinyals, Blundell, Lillicrap, Kavukcuoglu & Wierstra, 2016)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.conv4 import Conv4
from .base import METHODS, EncoderLearner, FeaturePredictor, Prediction
from .heads import log_cosine_scale

MASKED = -1e9  # logit of a class with no support example (probability 0 without NaN gradients)


def attention_class_logits(att_logits: Tensor, support_y: Tensor, ways: int) -> Tensor:
    """Class logits ``[..., Q, N]`` whose softmax is ``sum_i a(x, x_i) onehot(y_i)`` for the attention
    ``a = softmax(att_logits [..., Q, S])`` over the support set: per class, the log-sum-exp of the
    attention logits of its support examples."""
    mask = F.one_hot(support_y.long(), ways).to(torch.bool)  # [..., S, N]
    pad = torch.zeros(mask.shape, dtype=att_logits.dtype, device=att_logits.device).masked_fill(~mask, MASKED)
    return torch.logsumexp(att_logits.unsqueeze(-1) + pad.unsqueeze(-3), dim=-2)


class FullContextEmbedding(nn.Module):
    """Full context embeddings (Vinyals et al., 2016, appendix A).

    Support: ``g(x_i, S) = g'(x_i) + h_fwd_i + h_bwd_i`` from a bidirectional LSTM run over the embedded
    support set. Queries: ``steps`` of an attention LSTM, ``h_k, c_k = LSTM(f'(x), h_{k-1} + r_{k-1}, c_{k-1})``
    then ``h_k += f'(x)``, with the read-out ``r = sum_i softmax(h . g(x_i)) g(x_i)`` (the paper concatenates
    ``h`` and ``r``; here they are added so the state keeps the embedding's width).
    """

    def __init__(self, features: int, steps: int = 5) -> None:
        super().__init__()
        if steps <= 0:
            raise ValueError(f"fce_steps must be a positive integer, got {steps}.")
        self.support_lstm = nn.LSTM(features, features, batch_first=True, bidirectional=True)
        self.query_lstm = nn.LSTMCell(features, features)
        self.steps = steps

    def support(self, zs: Tensor) -> Tensor:
        """``[..., S, D] -> [..., S, D]``: each support embedding in the context of the whole set."""
        d, lead = zs.shape[-1], zs.shape[:-2]
        flat = zs.reshape(-1, *zs.shape[-2:])
        out, _ = self.support_lstm(flat)
        return (flat + out[..., :d] + out[..., d:]).reshape(*lead, *zs.shape[-2:])

    def queries(self, zq: Tensor, gs: Tensor) -> Tensor:
        """``zq [..., Q, D]`` attending over context-embedded support ``gs [..., S, D]`` -> ``[..., Q, D]``."""
        shape = zq.shape
        h = torch.zeros_like(zq)
        c = torch.zeros(zq.reshape(-1, shape[-1]).shape, dtype=zq.dtype, device=zq.device)
        for _ in range(self.steps):
            r = torch.softmax(h @ gs.transpose(-1, -2), dim=-1) @ gs
            h, c = self.query_lstm(zq.reshape(-1, shape[-1]), ((h + r).reshape(-1, shape[-1]), c))
            h = h.reshape(shape) + zq
        return h


@dataclass
class MatchingPredictor(FeaturePredictor):
    """A task adapted by a Matching Network: the (context-)embedded support set and its labels."""

    learner: MatchingNet
    support_g: Tensor
    support_y: Tensor
    ways: int

    def attention(self, x: Tensor) -> Tensor:
        """Attention ``a(x, x_i)`` of queries ``x`` over the support examples: ``[..., Q, S]``, rows sum to one."""
        return torch.softmax(self.learner.attention_logits(self.learner.test_embed(x), self.support_g), dim=-1)

    def predict_features(self, z: Tensor) -> Prediction:
        att = self.learner.attention_logits(z, self.support_g)
        return Prediction(logits=attention_class_logits(att, self.support_y, self.ways))


@METHODS.register("matching")
class MatchingNet(EncoderLearner):
    """Matching Networks (Vinyals et al., 2016): ``P(y | x, S) = sum_i a(x, x_i) onehot(y_i)`` with the
    attention ``a`` a softmax over support examples of the cosine similarity between the query embedding
    ``f(x)`` and the support embeddings ``g(x_i)`` (Conv4, shared). ``fce=True`` adds full context
    embeddings (:class:`FullContextEmbedding`). The cosine is multiplied by a learned inverse temperature
    (initialized at ``scale``; the paper uses the raw cosine, which caps confidence at a few classes'
    softmax of values in [-1, 1]); ``learn_scale=False`` keeps it fixed. The output is already a
    distribution over classes; its log is returned as logits. As an `EncoderLearner` it offers a frozen encoder,
    mirror-image test features (``tta_flip``) and both BatchNorm test protocols (``eval_bn``).
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        features: int = 64,
        fce: bool = False,
        fce_steps: int = 5,
        scale: float = 10.0,
        learn_scale: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = (encoder if encoder is not None else Conv4()).to(memory_format=torch.channels_last)
        self.fce = FullContextEmbedding(features, fce_steps) if fce else None
        log_scale = log_cosine_scale(scale)
        if learn_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def context_support(self, zs: Tensor) -> Tensor:
        return zs if self.fce is None else self.fce.support(zs)

    def attention_logits(self, zq: Tensor, gs: Tensor) -> Tensor:
        """``scale * cos(f(x), g(x_i))``: ``[..., Q, S]`` for queries ``zq [..., Q, D]`` (plain embeddings)
        and support ``gs [..., S, D]`` (already context-embedded)."""
        fq = zq if self.fce is None else self.fce.queries(zq, gs)
        return self.log_scale.exp() * F.normalize(fq, dim=-1) @ F.normalize(gs, dim=-1).transpose(-1, -2)

    def adapt_features(self, z: Tensor, y: Tensor, ways: int) -> MatchingPredictor:
        return MatchingPredictor(self, self.context_support(z), y, ways)
