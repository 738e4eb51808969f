"""Learned update rules: ``rule(param, grad, state, step) -> (delta, new_state)`` on one flattened parameter
tensor, differentiable with respect to the rule's own weights so they can be meta-trained by unrolling.

* `LSTMRule`: the coordinatewise two-layer LSTM optimizer of Andrychowicz et al. (2016): one small LSTM
  shared by every coordinate, fed preprocessed gradients (Appendix A), its output scaled by a constant.
* `MLPRule`: a per-parameter feature MLP in the spirit of Metz et al. (2020) and Harrison et al. (2022):
  gradient, momenta at several decays, Adam-style normalized terms, parameter value and step features,
  each normalized by its second moment over the tensor, into a small MLP giving a direction ``d`` and a
  log-magnitude ``m``; the update is ``dir_scale * d * exp(mag_scale * m)`` (Metz 2020, eq. 1)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from .preprocess import preprocess_gradient

State = dict[str, Tensor]


class UpdateRule(nn.Module):
    """Base class: ``init_state`` makes the per-coordinate state of a flat parameter; ``forward`` maps
    (param, grad, state, step) to the additive update and the next state. ``config`` rebuilds the rule."""

    kind = ""

    def init_state(self, param: Tensor) -> State:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        raise NotImplementedError


class LSTMRule(UpdateRule):
    """Andrychowicz et al. (2016): two-layer LSTM (20 hidden units) applied to every coordinate with shared
    weights; input = preprocessed gradient; update = ``out_scale`` * linear(h) (the paper's 0.1)."""

    kind = "lstm"

    def __init__(self, hidden: int = 20, layers: int = 2, preprocess_p: float = 10.0, out_scale: float = 0.1) -> None:
        super().__init__()
        if hidden <= 0 or layers <= 0:
            raise ValueError(f"LSTMRule needs positive hidden and layers, got hidden={hidden}, layers={layers}.")
        self.hidden, self.layers, self.preprocess_p, self.out_scale = hidden, layers, preprocess_p, out_scale
        self.cells = nn.ModuleList([nn.LSTMCell(2 if i == 0 else hidden, hidden) for i in range(layers)])
        self.head = nn.Linear(hidden, 1)
        nn.init.zeros_(self.head.bias)

    def init_state(self, param: Tensor) -> State:
        z = param.new_zeros(param.numel(), self.hidden)
        return {f"{s}{i}": z.clone() for i in range(self.layers) for s in ("h", "c")}

    def forward(self, param: Tensor, grad: Tensor, state: State, step: int) -> tuple[Tensor, State]:
        x = preprocess_gradient(grad.reshape(-1), self.preprocess_p)
        new: State = {}
        for i, cell in enumerate(self.cells):
            h, c = cell(x, (state[f"h{i}"], state[f"c{i}"]))
            new[f"h{i}"], new[f"c{i}"] = h, c
            x = h
        return self.out_scale * self.head(x).squeeze(-1), new

    def config(self) -> dict[str, Any]:
        return {
            "l2o_net": "lstm",
            "l2o_hidden": self.hidden,
            "l2o_layers": self.layers,
            "preprocess_p": self.preprocess_p,
            "out_scale": self.out_scale,
        }


class MLPRule(UpdateRule):
    """Feature MLP optimizer (Metz 2020; Harrison 2022). Per-coordinate features: g, momenta m_b for
    b in ``decays``, g/sqrt(v) and m_b/sqrt(v) (v: second moment, decay 0.999), parameter value; each
    divided by its root-mean-square over the tensor; plus tanh(step / T) for T in 10, 100, 1000."""

    kind = "mlp"
    TIMESCALES = (10.0, 100.0, 1000.0)

    def __init__(
        self,
        hidden: int = 32,
        decays: tuple[float, ...] = (0.5, 0.9, 0.99, 0.999),
        dir_scale: float = 0.01,
        mag_scale: float = 0.1,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        if not decays or any(not 0.0 <= b < 1.0 for b in decays):
            raise ValueError(f"momentum decays must lie in [0, 1), got {decays}.")
        self.hidden, self.decays, self.dir_scale, self.mag_scale, self.eps = (
            hidden,
            tuple(decays),
            dir_scale,
            mag_scale,
            eps,
        )
        self.register_buffer("betas", torch.tensor(self.decays))
        n_feat = 2 + 2 * len(self.decays) + 1 + len(self.TIMESCALES)
        self.net = nn.Sequential(
            nn.Linear(n_feat, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2)
        )
        nn.init.normal_(self.net[-1].weight, std=1e-2)
        nn.init.zeros_(self.net[-1].bias)

    def init_state(self, param: Tensor) -> State:
        n = param.numel()
        return {"m": param.new_zeros(n, len(self.decays)), "v": param.new_zeros(n)}

    def features(self, param: Tensor, grad: Tensor, state: State, step: int) -> tuple[Tensor, State]:
        g, p = grad.reshape(-1), param.reshape(-1)
        m = self.betas * state["m"] + (1 - self.betas) * g[:, None]
        v = 0.999 * state["v"] + 0.001 * g * g
        vhat = v / (1 - 0.999 ** (step + 1))  # bias-corrected, as in Adam
        rs = torch.rsqrt(vhat + self.eps)
        raw = torch.cat([g[:, None], m, (g * rs)[:, None], m * rs[:, None], p[:, None]], dim=1)
        raw = raw * torch.rsqrt(raw.pow(2).mean(0, keepdim=True) + 1e-16)  # second-moment normalization
        t = torch.tensor([math.tanh(step / s) for s in self.TIMESCALES], dtype=raw.dtype, device=raw.device)
        return torch.cat([raw, t.expand(raw.shape[0], -1)], dim=1), {"m": m, "v": v}

    def forward(self, param: Tensor, grad: Tensor, state: State, step: int) -> tuple[Tensor, State]:
        feats, new = self.features(param, grad, state, step)
        out = self.net(feats)
        d, mag = out[:, 0], out[:, 1]
        return self.dir_scale * d * torch.exp(self.mag_scale * mag.clamp(max=30.0)), new

    def config(self) -> dict[str, Any]:
        return {
            "l2o_net": "mlp",
            "l2o_hidden": self.hidden,
            "decays": ",".join(map(str, self.decays)),
            "dir_scale": self.dir_scale,
            "mag_scale": self.mag_scale,
        }


RULE_KEYS = {
    "lstm": ("l2o_hidden", "l2o_layers", "preprocess_p", "out_scale"),
    "mlp": ("l2o_hidden", "decays", "dir_scale", "mag_scale"),
}


def build_rule(cfg: dict[str, Any]) -> UpdateRule:
    """The update rule named by ``cfg["l2o_net"]`` ("lstm" or "mlp") with its hyper-parameters."""
    net = cfg.get("l2o_net", "lstm")
    if net == "lstm":
        return LSTMRule(
            int(cfg.get("l2o_hidden", 20)),
            int(cfg.get("l2o_layers", 2)),
            float(cfg.get("preprocess_p", 10.0)),
            float(cfg.get("out_scale", 0.1)),
        )
    if net == "mlp":
        decays = cfg.get("decays", "0.5,0.9,0.99,0.999")
        decays = tuple(float(b) for b in decays.split(",")) if isinstance(decays, str) else tuple(decays)
        return MLPRule(
            int(cfg.get("l2o_hidden", 32)), decays, float(cfg.get("dir_scale", 0.01)), float(cfg.get("mag_scale", 0.1))
        )
    raise ValueError(
        f"Unknown learned optimizer network {net!r}; set l2o_net to 'lstm' (Andrychowicz 2016) "
        f"or 'mlp' (feature MLP, Metz 2020 / Harrison 2022)."
    )
