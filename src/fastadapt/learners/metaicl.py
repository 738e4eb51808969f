"""MetaICL (Min et al., 2022) on the common Learner API: the meta-parameters are a Hugging Face causal
LM's weights; ``adapt`` stores k demonstrations (the prompt); ``predict`` scores every option of each query
and returns the scores as logits; ``meta_loss`` is MetaICL's in-context LM loss. Episodes come from
`tasks/text_tasks.py`. The prompt machinery lives in `text/metaicl.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..tasks.task import TaskBatch
from .base import METHODS, Learner, Prediction

PAD_SCORE = -1e4  # logit of a padding option (a task with fewer options than the batch's ways)


@dataclass
class PromptPredictor:
    learner: MetaICL
    demos: list
    ways: int

    def predict(self, queries: list) -> Prediction:
        return Prediction(logits=self.learner.score(self.demos, queries, self.ways))


@METHODS.register("metaicl")
class MetaICL(Learner):
    """A causal LM that learns from k demonstrations in its prompt (direct or channel, `PromptFormat`)."""

    def __init__(self, model: Any, tokenizer: Any, method: str = "direct", max_example_tokens: int = 256) -> None:
        super().__init__()
        from ..text.metaicl import PromptBuilder, PromptFormat, context_length

        self.model, self.tokenizer = model, tokenizer
        self.builder = PromptBuilder(
            tokenizer, PromptFormat(method, max_example_tokens=max_example_tokens), context_length(model)
        )

    def score(self, demos: list, queries: list, ways: int) -> Tensor:
        from ..text.metaicl import option_scores

        out = torch.full((len(queries), ways), PAD_SCORE)
        for i, q in enumerate(queries):
            s = option_scores(self.model, self.builder, demos, q)
            out[i, : len(s)] = s
        return out

    def adapt(self, support_x: Any, support_y: Any = None, ways: int | None = None) -> PromptPredictor:
        """``support_x``: the demonstrations (``{"input", "output", "options"}`` dicts)."""
        return PromptPredictor(self, list(support_x), ways or max(len(d["options"]) for d in support_x))

    def _text(self, batch: TaskBatch) -> tuple[list, list]:
        if not hasattr(batch, "demos"):
            raise TypeError("MetaICL reads text episodes (dataset 'text-tasks'), got a batch without text.")
        return batch.demos, batch.query_examples

    def predict_batch(self, batch: TaskBatch) -> Prediction:
        demos, queries = self._text(batch)
        dev = batch.query_y.device
        return Prediction(logits=torch.stack([self.score(d, q, batch.ways) for d, q in zip(demos, queries)]).to(dev))

    def meta_loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        from ..text.metaicl import metaicl_loss

        demos, queries = self._text(batch)
        loss = metaicl_loss(self.model, self.builder, [(d, q) for d, qs in zip(demos, queries) for q in qs])
        return loss, {"loss": loss.item()}

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Tensor]:
        # Tied weights (e.g. GPT-2's input and output embeddings) share memory, which safetensors refuses:
        # each further name of a shared tensor gets its own copy.
        sd, seen = super().state_dict(*args, **kwargs), set()
        for k, v in sd.items():
            if isinstance(v, Tensor):
                if v.data_ptr() in seen:
                    sd[k] = v.clone()
                seen.add(v.data_ptr())
        return sd
