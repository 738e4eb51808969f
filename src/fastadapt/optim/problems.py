"""Optimizee families: each is a deterministic stream of training problems, ``family.problem(i)``, split
into disjoint ``train`` (meta-training), ``val`` (learning-rate tuning, checkpoint selection) and ``test``
(held-out) parts. A problem has ``init_params() -> dict`` and ``loss(params, t) -> scalar``, where ``t`` is
the optimization step (it picks the minibatch, so every optimizer sees the same data stream).

* ``quadratic``: f(theta) = ||W theta - y||^2 with W 10x10, y and theta_0 i.i.d. N(0, 1)
  (Andrychowicz 2016, sec. 3.1).
* ``mlp-omniglot``: a 784-20-10 sigmoid MLP (Andrychowicz 2016, sec. 3.2, with MNIST) classifying 10
  Omniglot characters (28x28, 20 drawings each), cross-entropy on minibatches; train/val/test problems draw
  their characters from the vinyals train/val/test alphabets.
* ``conv-omniglot``: the same problems solved by a small conv net (two 3x3 stride-2 conv layers with 8
  channels, then linear); a family never seen in meta-training, for transfer tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from ..registry import Registry

PART_OFFSET = {"train": 0, "val": 1_000_003, "test": 2_000_029}


class Problem(Protocol):
    def init_params(self) -> dict[str, Tensor]: ...

    def loss(self, params: dict[str, Tensor], t: int) -> Tensor: ...


class Family(Protocol):
    name: str
    part: str

    def problem(self, index: int) -> Problem: ...


FAMILIES = Registry("optimizee family")


def _generator(*keys: int) -> torch.Generator:
    seed = 0
    for k in keys:
        seed = (seed * 1_000_003 + int(k)) % (2**62)
    return torch.Generator().manual_seed(seed)


def _check_part(part: str) -> None:
    if part not in PART_OFFSET:
        raise ValueError(f"Unknown part {part!r}; optimizee families have parts {sorted(PART_OFFSET)}.")


@dataclass
class QuadraticProblem:
    """f(theta) = ||W theta - y||^2 (Andrychowicz 2016)."""

    W: Tensor
    y: Tensor
    theta0: Tensor

    def init_params(self) -> dict[str, Tensor]:
        return {"theta": self.theta0.clone()}

    def loss(self, params: dict[str, Tensor], t: int) -> Tensor:
        return (self.W @ params["theta"] - self.y).pow(2).sum()


class QuadraticFamily:
    name = "quadratic"

    def __init__(self, part: str, seed: int = 0, dim: int = 10) -> None:
        _check_part(part)
        self.part, self.seed, self.dim = part, seed, dim

    def problem(self, index: int) -> QuadraticProblem:
        g = _generator(self.seed, PART_OFFSET[self.part] + index)
        d = self.dim
        return QuadraticProblem(
            torch.randn(d, d, generator=g), torch.randn(d, generator=g), torch.randn(d, generator=g)
        )


@FAMILIES.register("quadratic")
def _quadratic(cfg: dict[str, Any], part: str, seed: int) -> QuadraticFamily:
    return QuadraticFamily(part, seed, int(cfg.get("quad_dim", 10)))


# --- classifiers on Omniglot-derived problems ----------------------------------------------------------
def _uniform(g: torch.Generator, shape: tuple[int, ...], fan_in: int) -> Tensor:
    bound = fan_in**-0.5  # torch's default Linear/Conv initialization range
    return (torch.rand(shape, generator=g) * 2 - 1) * bound


def mlp_init(g: torch.Generator, d_in: int, hidden: int, n_out: int) -> dict[str, Tensor]:
    return {
        "w1": _uniform(g, (hidden, d_in), d_in),
        "b1": _uniform(g, (hidden,), d_in),
        "w2": _uniform(g, (n_out, hidden), hidden),
        "b2": _uniform(g, (n_out,), hidden),
    }


def mlp_forward(p: dict[str, Tensor], x: Tensor) -> Tensor:
    return F.linear(torch.sigmoid(F.linear(x.flatten(1), p["w1"], p["b1"])), p["w2"], p["b2"])


def conv_init(g: torch.Generator, size: int, channels: int, n_out: int) -> dict[str, Tensor]:
    s = (size + 1) // 2
    s = (s + 1) // 2
    return {
        "c1": _uniform(g, (channels, 1, 3, 3), 9),
        "cb1": _uniform(g, (channels,), 9),
        "c2": _uniform(g, (channels, channels, 3, 3), 9 * channels),
        "cb2": _uniform(g, (channels,), 9 * channels),
        "w": _uniform(g, (n_out, channels * s * s), channels * s * s),
        "b": _uniform(g, (n_out,), channels * s * s),
    }


def conv_forward(p: dict[str, Tensor], x: Tensor) -> Tensor:
    h = F.relu(F.conv2d(x, p["c1"], p["cb1"], stride=2, padding=1))
    h = F.relu(F.conv2d(h, p["c2"], p["cb2"], stride=2, padding=1))
    return F.linear(h.flatten(1), p["w"], p["b"])


@dataclass
class ClassifierProblem:
    """Cross-entropy of a small network on a fixed labelled set; step ``t`` uses a seeded minibatch."""

    x: Tensor  # float [N, 1, H, W] in [0, 1]
    y: Tensor  # long [N]
    params0: dict[str, Tensor]
    forward: Callable[[dict[str, Tensor], Tensor], Tensor]
    batch_size: int
    seed: int

    def init_params(self) -> dict[str, Tensor]:
        return {k: v.clone() for k, v in self.params0.items()}

    def batch_index(self, t: int) -> Tensor:
        return torch.randint(len(self.y), (min(self.batch_size, len(self.y)),), generator=_generator(self.seed, t))

    def loss(self, params: dict[str, Tensor], t: int) -> Tensor:
        idx = self.batch_index(t)
        return F.cross_entropy(self.forward(params, self.x[idx]), self.y[idx])


class ClassifierFamily:
    """Problems of ``ways`` classes drawn from a labelled image set (uint8 ``x`` [M, 1, H, W], class ``y``)."""

    def __init__(
        self,
        name: str,
        part: str,
        seed: int,
        x: Tensor,
        y: Tensor,
        model: str,
        ways: int = 10,
        hidden: int = 20,
        channels: int = 8,
        batch_size: int = 64,
    ) -> None:
        _check_part(part)
        if model not in ("mlp", "conv"):
            raise ValueError(f"Unknown optimizee model {model!r}; expected 'mlp' or 'conv'.")
        classes = torch.unique(y)
        if len(classes) < ways:
            raise ValueError(f"{name}: the {part} part has {len(classes)} classes, fewer than ways={ways}.")
        self.name, self.part, self.seed, self.model, self.ways = name, part, seed, model, ways
        self.x, self.y, self.classes = x, y, classes
        self.hidden, self.channels, self.batch_size = hidden, channels, batch_size
        self._by_class = {int(c): (y == c).nonzero().squeeze(1) for c in classes}

    def problem(self, index: int) -> ClassifierProblem:
        g = _generator(self.seed, PART_OFFSET[self.part] + index)
        chosen = self.classes[torch.randperm(len(self.classes), generator=g)[: self.ways]]
        idx = torch.cat([self._by_class[int(c)] for c in chosen])
        x = self.x[idx].float() / 255.0
        y = torch.arange(self.ways).repeat_interleave(torch.tensor([len(self._by_class[int(c)]) for c in chosen]))
        size = x.shape[-1]
        if self.model == "mlp":
            return ClassifierProblem(
                x,
                y,
                mlp_init(g, size * size, self.hidden, self.ways),
                mlp_forward,
                self.batch_size,
                int(torch.randint(2**31, (1,), generator=g)),
            )
        return ClassifierProblem(
            x,
            y,
            conv_init(g, size, self.channels, self.ways),
            conv_forward,
            self.batch_size,
            int(torch.randint(2**31, (1,), generator=g)),
        )


OMNIGLOT_PART = {"train": "train", "val": "val", "test": "test"}


@lru_cache(maxsize=6)
def _omniglot(part: str, root: str, size: int) -> tuple[Tensor, Tensor]:
    from ..tasks.omniglot import omniglot_classes

    data = omniglot_classes("vinyals", OMNIGLOT_PART[part], root=root or None, size=size, rotations=False)
    return data.x, data.y


def _omniglot_family(model: str) -> Callable[..., ClassifierFamily]:
    def factory(cfg: dict[str, Any], part: str, seed: int) -> ClassifierFamily:
        _check_part(part)
        x, y = _omniglot(part, cfg.get("data_root", ""), int(cfg.get("image_size", 28)))
        return ClassifierFamily(
            f"{model}-omniglot",
            part,
            seed,
            x,
            y,
            model,
            int(cfg.get("optimizee_ways", 10)),
            int(cfg.get("optimizee_hidden", 20)),
            int(cfg.get("optimizee_channels", 8)),
            int(cfg.get("optimizee_batch", 64)),
        )

    return factory


FAMILIES.register("mlp-omniglot")(_omniglot_family("mlp"))
FAMILIES.register("conv-omniglot")(_omniglot_family("conv"))


def build_family(cfg: dict[str, Any], name: str, part: str, seed: int | None = None) -> Family:
    """Optimizee family ``name`` (see FAMILIES), part train / val / test."""
    return FAMILIES.get_or_raise(name)(cfg, part, cfg.get("seed", 0) if seed is None else seed)
