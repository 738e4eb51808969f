"""Checkpoints as safetensors (never pickle): model and optimizer tensors in one file whose header also
carries the JSON metadata, written atomically so a killed process leaves the previous checkpoint intact."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..io import atomic_write_bytes

FORMAT = "fastadapt-checkpoint-1"


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable, unsafe, or belongs to another model."""


def _optimizer_split(optimizer: torch.optim.Optimizer | None) -> tuple[dict[str, torch.Tensor], dict]:
    if optimizer is None:
        return {}, {}
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optim.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, meta: dict[str, Any],
                    optimizer: torch.optim.Optimizer | None = None) -> None:
    """Write ``model`` (and ``optimizer``) state plus JSON-serializable ``meta`` to ``path`` atomically."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_tensors, opt_meta = _optimizer_split(optimizer)
    tensors.update(opt_tensors)
    header = {"format": FORMAT, "meta": meta, "optimizer": opt_meta}
    atomic_write_bytes(path, st_save(tensors, metadata={"fastadapt": json.dumps(header)}))


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read tensors and header; refuses anything that is not a fastadapt safetensors file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}. Train first (`fastadapt train`) or check the run folder.")
    data = path.read_bytes()
    try:
        tensors = st_load(data)
        from safetensors import safe_open  # header metadata
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("fastadapt")
    except (SafetensorError, ValueError, OSError) as e:
        raise CheckpointError(f"{path} is not a safetensors checkpoint ({e}). fastadapt never unpickles "
                              f"checkpoints; re-create it with `fastadapt train`.") from None
    if raw is None:
        raise CheckpointError(f"{path} is a safetensors file but not a fastadapt checkpoint (no metadata).")
    header = json.loads(raw)
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path} has format {header.get('format')!r}, expected {FORMAT!r}.")
    return tensors, header


def load_checkpoint(path: str | os.PathLike, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """Restore ``model`` (and ``optimizer``) in place; returns the checkpoint's metadata."""
    tensors, header = read_checkpoint(path)
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        made_by = header["meta"].get("config", {}).get("method", "?")
        raise CheckpointError(
            f"{path} belongs to another model (made by method {made_by!r}): "
            + "; ".join(s for s in (f"missing {missing[:3]}" if missing else "",
                                     f"unexpected {unexpected[:3]}" if unexpected else "",
                                     f"shape mismatch in {wrong[:3]}" if wrong else "") if s)
            + ". Load it with the preset/config it was trained with.")
    model.load_state_dict(state)
    if optimizer is not None and header["optimizer"]:
        opt = header["optimizer"]
        st: dict[int, dict[str, Any]] = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, pid, name = k.split(".", 2)
                st.setdefault(int(pid), {})[name] = v
        for k, v in opt["scalars"].items():
            pid, name = k.split(".", 1)
            st.setdefault(int(pid), {})[name] = v
        optimizer.load_state_dict({"state": st, "param_groups": opt["param_groups"]})
    return header["meta"]
