"""`LearnedOptimizer`: a meta-trained update rule (Andrychowicz 2016; Metz 2020) as a standard
`torch.optim.Optimizer`: ``zero_grad()``, ``loss.backward()``, ``step()``; its per-parameter state (LSTM
cells or momenta, step count) round-trips through ``state_dict()``. The weights come from a run folder of
`fastadapt train --preset l2o-...` (its ``best.safetensors``), a checkpoint file, or an `UpdateRule`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..checkpoint import load_checkpoint, read_checkpoint
from .rules import UpdateRule, build_rule

CHECKPOINT = "best.safetensors"


def load_rule(weights: str | os.PathLike) -> tuple[UpdateRule, dict[str, Any]]:
    """The update rule saved at ``weights`` (a run folder or a ``.safetensors`` checkpoint) and its config."""
    path = Path(weights)
    if path.is_dir():
        path = path / CHECKPOINT
    _, header = read_checkpoint(path)
    cfg = header["meta"].get("config", {})
    if cfg.get("trainer") != "l2o":
        raise ValueError(
            f"{path} is not a learned-optimizer checkpoint (made by method {cfg.get('method')!r}); "
            f"train one with `fastadapt train --preset l2o-quadratic --out DIR` and pass DIR."
        )
    rule = build_rule(cfg)
    load_checkpoint(path, rule)
    return rule.eval(), cfg


class LearnedOptimizer(torch.optim.Optimizer):
    """A learned update rule applied to each parameter tensor: ``p += lr * rule(p, grad, state, t)``.

    ``weights``: run folder, checkpoint path, or an `UpdateRule` module. ``lr`` multiplies the learned
    update (1.0 = as meta-trained) so learning-rate schedulers still work."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        weights: str | os.PathLike | UpdateRule,
        lr: float = 1.0,
    ) -> None:
        if lr < 0:
            raise ValueError(f"lr must be non-negative, got {lr}.")
        if isinstance(weights, UpdateRule):
            self.rule, source = weights, f"<{type(weights).__name__}>"
        else:
            self.rule, _ = load_rule(weights)
            source = str(weights)
        super().__init__(params, {"lr": lr, "weights": source})

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("LearnedOptimizer does not support sparse gradients.")
                ref = next(self.rule.parameters())
                if ref.device != p.device:
                    self.rule.to(p.device)
                    ref = next(self.rule.parameters())
                st = self.state[p]
                flat = p.detach().reshape(-1).to(ref.dtype)  # the rule runs in its own dtype
                if not st:
                    st["step"] = 0
                    st.update(self.rule.init_state(flat))
                t = int(st["step"])
                rule_state = {k: v.to(ref.dtype) for k, v in st.items() if k != "step"}
                delta, new = self.rule(flat, p.grad.reshape(-1).to(ref.dtype), rule_state, t)
                p.add_(delta.view_as(p).to(p.dtype), alpha=group["lr"])
                st.update(new)
                st["step"] = t + 1
        return loss
