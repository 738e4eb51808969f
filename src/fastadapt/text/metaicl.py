"""MetaICL: learning to learn in context (Min, Lewis, Zettlemoyer & Hajishirzi, 2022), for any Hugging Face
causal language model given as a local path.

Tasks are JSONL files, one example a line: ``{"input": str, "output": str, "options": [str, ...]}``
(read and written by `fastadapt.tasks.text_tasks`).
A k-shot prompt concatenates k demonstrations and the query (newline format of MetaICL):

    direct:   x_1 <io> y_1 <ex> ... x_k <io> y_k <ex> x <io>   then scores each option y as the continuation
    channel:  y_1 <io> x_1 <ex> ... y_k <io> x_k <ex> y <io>   then scores the query x given each option y

Pieces are tokenized separately and joined as token ids (never re-tokenized together). Each input is cut to
``max_example_tokens``; if prompt plus continuation exceed the model's context length, the oldest prompt
tokens are dropped (the continuation is always kept whole). An option's score is the mean log-probability
of its continuation tokens (MetaICL's length-normalized loss); the prediction is the best-scoring option.
Meta-training (`fastadapt.learners.metaicl.MetaICL` on the one trainer, preset ``metaicl``) samples k+1 examples of
a training task and minimizes the loss of the last one's continuation given the k before it; evaluation is k-shot
accuracy on unseen tasks, compared with plain prompting of the same model before meta-training (a ``steps=0`` run).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

Example = dict[str, Any]
METHODS = ("direct", "channel")


@dataclass(frozen=True)
class PromptFormat:
    """How examples are joined: ``io_sep`` between input and output, ``example_sep`` after each demonstration."""

    method: str = "direct"
    io_sep: str = "\n"
    example_sep: str = "\n\n\n"
    max_example_tokens: int = 256

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}.")
        if self.max_example_tokens <= 0:
            raise ValueError(f"max_example_tokens must be positive, got {self.max_example_tokens}.")


# --- Prompts -------------------------------------------------------------------------------------------


def context_length(model: Any) -> int:
    cfg = model.config
    for key in ("n_positions", "max_position_embeddings", "n_ctx"):
        if getattr(cfg, key, None):
            return int(getattr(cfg, key))
    raise ValueError(
        "Cannot tell the model's context length: its config has no n_positions / "
        "max_position_embeddings; pass max_length explicitly."
    )


class PromptBuilder:
    """Token-level k-shot prompts for one tokenizer, format and context length."""

    def __init__(self, tokenizer: Any, fmt: PromptFormat = PromptFormat(), max_length: int = 1024) -> None:
        self.tok, self.fmt, self.max_length = tokenizer, fmt, max_length
        self.io = self.encode(fmt.io_sep)
        self.ex = self.encode(fmt.example_sep)
        if not self.io or not self.ex:
            raise ValueError(
                f"The tokenizer drops the separator {fmt.io_sep!r} or {fmt.example_sep!r}; "
                f"choose separators it keeps as tokens."
            )

    def encode(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def _input(self, text: str) -> list[int]:
        return self.encode(text)[: self.fmt.max_example_tokens]

    def demonstrations(self, demos: list[Example]) -> list[int]:
        ids: list[int] = []
        for d in demos:
            x, y = self._input(d["input"]), self.encode(d["output"])
            ids += (x + self.io + y if self.fmt.method == "direct" else y + self.io + x) + self.ex
        return ids

    def build(self, demos: list[Example], query: str, option: str) -> tuple[list[int], list[int]]:
        """(prompt ids, continuation ids) scoring ``option`` for ``query`` after ``demos``, truncated from
        the left to ``max_length`` tokens in all."""
        ctx = self.demonstrations(demos)
        x, y = self._input(query), self.encode(option)
        prefix, cont = (ctx + x + self.io, y) if self.fmt.method == "direct" else (ctx + y + self.io, x)
        if len(cont) >= self.max_length:
            raise ValueError(
                f"A continuation of {len(cont)} tokens does not fit the context of {self.max_length}; "
                f"lower max_example_tokens."
            )
        over = len(prefix) + len(cont) - self.max_length
        return (prefix[over:] if over > 0 else prefix), cont


# --- Scoring and the loss ------------------------------------------------------------------------------


def _pad(pairs: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[Tensor, Tensor, Tensor]:
    """Right-padded ids, attention mask, and a mask of the continuation positions in the *targets*."""
    width = max(len(p) + len(c) for p, c in pairs)
    ids = torch.full((len(pairs), width), pad_id, dtype=torch.long)
    attn = torch.zeros(len(pairs), width, dtype=torch.long)
    target = torch.zeros(len(pairs), width - 1, dtype=torch.bool)
    for i, (p, c) in enumerate(pairs):
        ids[i, : len(p) + len(c)] = torch.tensor(p + c)
        attn[i, : len(p) + len(c)] = 1
        target[i, len(p) - 1 : len(p) + len(c) - 1] = True
    return ids, attn, target


def continuation_logprobs(model: Any, pairs: list[tuple[list[int], list[int]]], pad_id: int = 0) -> Tensor:
    """Per pair: the mean log-probability of the continuation tokens given the prompt (one padded batch)."""
    dev = next(model.parameters()).device
    ids, attn, target = _pad(pairs, pad_id)
    ids, attn, target = ids.to(dev), attn.to(dev), target.to(dev)
    logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float()
    lp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (lp * target).sum(1) / target.sum(1)


def pad_id_of(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)


@torch.no_grad()
def option_scores(
    model: Any, builder: PromptBuilder, demos: list[Example], query: Example, batch_size: int = 32
) -> Tensor:
    """Scores ``[n_options]`` of every option of ``query`` (higher is better)."""
    pairs = [builder.build(demos, query["input"], o) for o in query["options"]]
    pad = pad_id_of(builder.tok)
    return torch.cat(
        [continuation_logprobs(model, pairs[i : i + batch_size], pad) for i in range(0, len(pairs), batch_size)]
    ).cpu()


def metaicl_loss(model: Any, builder: PromptBuilder, episodes: list[tuple[list[Example], Example]]) -> Tensor:
    """MetaICL's training loss: mean over episodes of the negative mean log-probability of the target
    continuation (the output for direct, the input for channel) given k demonstrations."""
    pairs = [builder.build(demos, q["input"], q["output"]) for demos, q in episodes]
    return -continuation_logprobs(model, pairs, pad_id_of(builder.tok)).mean()


# --- Models --------------------------------------------------------------------------------------------


def load_causal_lm(path: str | os.PathLike) -> tuple[Any, Any]:
    """A causal LM and its tokenizer from a local folder (``local_files_only``: no network)."""
    from .encoder import EXTRA_HINT, _transformers

    tf = _transformers()
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"No model folder {path}. MetaICL loads a local Hugging Face causal LM "
            f"(config.json, weights, tokenizer); `make_tiny_lm` writes a small one. {EXTRA_HINT}"
        )
    tok = tf.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = tf.AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok


def word_tokenizer(texts: Iterable[str], specials: tuple[str, ...] = ("<unk>", "<pad>", "<eos>")) -> Any:
    """A word-level tokenizer over ``texts`` that keeps newlines as tokens (for tiny test models)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    from .encoder import _transformers

    pre = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex("[ \t]+"), "removed"), pre_tokenizers.Split("\n", "isolated")]
    )
    words: dict[str, None] = {s: None for s in specials}
    words["\n"] = None
    for t in texts:
        for w, _ in pre.pre_tokenize_str(t):
            words.setdefault(w, None)
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre
    return _transformers().PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>"
    )


def make_tiny_lm(
    path: str | os.PathLike | None,
    texts: Iterable[str],
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_positions: int = 512,
    seed: int = 0,
) -> tuple[Any, Any]:
    """A small GPT-2 (Radford 2019) built from a config, with a word tokenizer over ``texts``; saved to
    ``path`` (when given) so it loads like any local model. Nothing is downloaded."""
    from .encoder import _transformers

    tf = _transformers()
    tok = word_tokenizer(texts)
    torch.manual_seed(seed)
    cfg = tf.GPT2Config(
        vocab_size=len(tok),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = tf.GPT2LMHeadModel(cfg).eval()
    if path is not None:
        model.save_pretrained(str(path))
        tok.save_pretrained(str(path))
    return model, tok
