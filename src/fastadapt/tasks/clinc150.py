"""CLINC150 (Larson et al., 2019) as a few-shot text task family: 150 intents in 10 domains. Meta-training
uses 7 domains, testing 3 unseen ones, so no test intent is ever seen in meta-training; episodes are N-way
K-shot sets of utterances, and the out-of-scope utterances (``oos_*``) serve as queries of no support class.

Parts: ``train`` = the train utterances (100 per intent) of the 7 training domains; ``val`` = their val
utterances (20 per intent; same intents, new utterances); ``test`` = all 150 utterances per intent of the 3
test domains. Out-of-scope pools: ``oos_train``, ``oos_val``, ``oos_test`` respectively.

Inputs (config key ``clinc_input``): ``embedding`` (frozen all-MiniLM-L6-v2 sentence embeddings, computed
once and cached as ``.npy``), ``tokens`` (word-piece ids, 0-padded, for fine-tuning the encoder) or
``index`` (the utterance's row in `ClincData.texts`, for tests and text-level methods)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..io import atomic_write_bytes
from ..seeding import seeded_generator
from . import DATASETS
from .omniglot import data_root
from .sampler import EpisodeSampler
from .task import TaskBatch

TEST_DOMAINS = ("auto_and_commute", "kitchen_and_dining", "travel")
SPLITS = ("train", "val", "test", "oos_train", "oos_val", "oos_test")
INPUTS = ("embedding", "tokens", "index")


@dataclass
class ClincData:
    """All utterances: ``texts``, ``intent`` id per utterance (-1 = out of scope), ``split`` name per utterance,
    ``intents`` names, ``domain_of`` intent id -> domain name, ``domains`` in file order."""

    texts: list[str]
    intent: Tensor
    split: list[str]
    intents: list[str]
    domain_of: list[str]
    domains: list[str]
    fingerprint: str

    def rows(self, splits: tuple[str, ...], domains: tuple[str, ...] | None = None) -> Tensor:
        """Utterance rows of the given splits, restricted to intents of ``domains`` (None: any, OOS too)."""
        keep = [
            i
            for i, s in enumerate(self.split)
            if s in splits and (domains is None or (self.intent[i] >= 0 and self.domain_of[self.intent[i]] in domains))
        ]
        return torch.tensor(keep, dtype=torch.long)


def clinc_folder(root: str | os.PathLike | None = None) -> Path:
    folder = data_root(root) / "clinc150"
    if not (folder / "data_full.json").exists() or not (folder / "domains.json").exists():
        raise FileNotFoundError(
            f"CLINC150 not found: expected data_full.json and domains.json in {folder}. Copy "
            f"them from the clinc/oos-eval repository (data/), or point FASTADAPT_DATA or "
            f"data_root at a folder holding clinc150/."
        )
    return folder


@lru_cache(maxsize=2)
def load_clinc(root: str = "") -> ClincData:
    folder = clinc_folder(root or None)
    raw = (folder / "data_full.json").read_bytes()
    data, domains = json.loads(raw), json.loads((folder / "domains.json").read_text())
    intents = [i for d in domains for i in domains[d]]
    if len(intents) != 150 or len(set(intents)) != 150:
        raise ValueError(f"{folder}/domains.json should map 10 domains to 150 distinct intents, got {len(intents)}.")
    iid = {name: j for j, name in enumerate(intents)}
    texts, intent, split = [], [], []
    for s in SPLITS:
        for utt, lab in data[s]:
            texts.append(utt)
            intent.append(-1 if lab == "oos" else iid[lab])
            split.append(s)
    return ClincData(
        texts,
        torch.tensor(intent),
        split,
        intents,
        [d for d in domains for _ in domains[d]],
        list(domains),
        hashlib.sha256(raw).hexdigest()[:16],
    )


def _cache_dir(folder: Path) -> Path:
    if folder.stat().st_mode & stat.S_IWUSR and os.access(folder, os.W_OK):
        return folder / "cache"
    return Path.home() / ".cache" / "fastadapt" / "clinc150"


def clinc_embeddings(root: str = "") -> Tensor:
    """Frozen all-MiniLM-L6-v2 embeddings ``[N, 384]`` of every utterance, computed once and cached."""
    data = load_clinc(root)
    path = _cache_dir(clinc_folder(root or None)) / f"minilm-l6-v2-{data.fingerprint}.npy"
    if path.exists():
        arr = np.load(path)
        if arr.shape == (len(data.texts), 384):
            return torch.from_numpy(arr)
    from ..text.encoder import embed_texts

    emb = embed_texts(data.texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.save(buf, emb.numpy())
    atomic_write_bytes(path, buf.getvalue())
    return emb


@lru_cache(maxsize=2)
def _inputs(kind: str, root: str) -> Tensor:
    data = load_clinc(root)
    if kind == "embedding":
        return clinc_embeddings(root)
    if kind == "tokens":
        from ..text.encoder import tokenize

        return tokenize(data.texts)
    return torch.arange(len(data.texts)).unsqueeze(-1)


def domain_split(cfg: dict[str, Any], data: ClincData) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(training domains, test domains); ``clinc_test_domains`` (comma-separated) overrides the default."""
    test = tuple(d for d in cfg.get("clinc_test_domains", ",".join(TEST_DOMAINS)).split(",") if d)
    unknown = set(test) - set(data.domains)
    if unknown or not test:
        raise ValueError(f"clinc_test_domains names unknown domains {sorted(unknown)}; choose from {data.domains}.")
    return tuple(d for d in data.domains if d not in test), test


class ClincEpisodes:
    """N-way K-shot utterance episodes over one part, plus out-of-scope queries (`oos_batch`)."""

    def __init__(
        self,
        x: Tensor,
        data: ClincData,
        rows: Tensor,
        oos_rows: Tensor,
        ways: int,
        shots: int,
        queries: int,
        seed: int,
        within_domain: bool = False,
    ) -> None:
        y = data.intent[rows]
        groups = torch.tensor([data.domains.index(data.domain_of[i]) for i in y.tolist()])
        self.episodes = EpisodeSampler(
            x[rows], y, ways, shots, queries, groups=groups, within_group=within_domain, seed=seed
        )
        self.x, self.rows, self.oos_rows, self.seed = x, rows, oos_rows, seed
        self.intents = sorted(set(y.tolist()))
        self.ways, self.shots, self.queries = ways, shots, queries

    def batch(self, index: int, batch_size: int = 1) -> TaskBatch:
        return self.episodes.batch(index, batch_size)

    def oos_batch(self, index: int, batch_size: int = 1, count: int | None = None) -> Tensor:
        """``count`` (default ``ways * queries``) out-of-scope inputs per episode of batch ``index``:
        ``[B, count, ...]``."""
        count = count or self.ways * self.queries
        g = seeded_generator(self.seed, index, offset=7)
        pick = torch.rand(batch_size, len(self.oos_rows), generator=g).topk(count, dim=1).indices
        return self.x[self.oos_rows[pick]]


PARTS = {
    "train": (("train",), "oos_train", False),
    "val": (("val",), "oos_val", False),
    "test": (("train", "val", "test"), "oos_test", True),
}


@DATASETS.register("clinc150")
def clinc150_sampler(
    cfg: dict[str, Any], part: str, ways: int, shots: int, queries: int, seed: int, within_group: bool = False
) -> ClincEpisodes:
    if part not in PARTS:
        raise ValueError(f"part must be one of {sorted(PARTS)}, got {part!r}.")
    kind = cfg.get("clinc_input", "embedding")
    if kind not in INPUTS:
        raise ValueError(f"clinc_input must be one of {INPUTS}, got {kind!r}.")
    root = cfg.get("data_root", "")
    data = load_clinc(root)
    train_domains, test_domains = domain_split(cfg, data)
    splits, oos, unseen = PARTS[part]
    rows = data.rows(splits, test_domains if unseen else train_domains)
    return ClincEpisodes(_inputs(kind, root), data, rows, data.rows((oos,)), ways, shots, queries, seed, within_group)
