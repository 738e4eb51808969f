"""Checkpoints as safetensors (never pickle): model and optimizer tensors in one file whose header also
carries the JSON metadata, written atomically so a killed process leaves the previous checkpoint intact.

A model may name state entries it reloads from a pretrained source when it is built (``pretrained_keys()``,
e.g. the frozen layers of a sentence encoder installed as a package): those are left out of the file and
only a checksum of them is stored, which loading checks, so a checkpoint holds what training changed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .io import atomic_write_bytes

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


def pretrained_keys(model: torch.nn.Module) -> set[str]:
    """State entries ``model`` rebuilds from a pretrained source rather than from its checkpoint."""
    fn = getattr(model, "pretrained_keys", None)
    return set(fn()) if callable(fn) else set()


def _checksum(state: dict[str, torch.Tensor], keys: set[str]) -> float:
    return float(sum(state[k].detach().double().abs().sum() for k in sorted(keys)))


def save_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    meta: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
) -> None:
    """Write ``model`` (and ``optimizer``) state plus JSON-serializable ``meta`` to ``path`` atomically
    (without the model's ``pretrained_keys``, of which only a checksum is kept)."""
    state, skip = model.state_dict(), pretrained_keys(model)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in state.items() if k not in skip}
    opt_tensors, opt_meta = _optimizer_split(optimizer)
    tensors.update(opt_tensors)
    header = {"format": FORMAT, "meta": meta, "optimizer": opt_meta}
    if skip:
        header["pretrained"] = {"keys": len(skip), "abs_sum": _checksum(state, skip)}
    atomic_write_bytes(path, st_save(tensors, metadata={"fastadapt": json.dumps(header)}))


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read tensors and header; refuses anything that is not a fastadapt safetensors file."""
    path = Path(path)
    if not path.exists():
        hint = (
            " This run folder keeps results without weights: in the fastadapt repository, results/archive.json "
            "(`weights_in_history`) names the commit that holds them; `git checkout <commit> -- " + str(path) + "`."
            if (path.parent / "results.json").exists()
            else ""
        )
        raise CheckpointError(
            f"No checkpoint at {path}. Train first (`fastadapt train`) or check the run folder.{hint}"
        )
    data = path.read_bytes()
    try:
        tensors = st_load(data)
        from safetensors import safe_open  # header metadata

        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("fastadapt")
    except (SafetensorError, ValueError, OSError) as e:
        raise CheckpointError(
            f"{path} is not a safetensors checkpoint ({e}). fastadapt never unpickles "
            f"checkpoints; re-create it with `fastadapt train`."
        ) from None
    if raw is None:
        raise CheckpointError(f"{path} is a safetensors file but not a fastadapt checkpoint (no metadata).")
    try:
        header = json.loads(raw)
    except ValueError:
        header = None
    if isinstance(header, dict) and header.get("format") != FORMAT:
        raise CheckpointError(f"{path} has format {header.get('format')!r}, expected {FORMAT!r}.")
    if not isinstance(header, dict) or not isinstance(header.get("meta"), dict):
        raise CheckpointError(
            f"{path}: its fastadapt metadata is damaged (expected a JSON object with 'format' and "
            f"'meta', got {raw[:60]!r}). Use another checkpoint of the run, or re-create it with "
            f"`fastadapt train`."
        )
    return tensors, header


def migrate_keys(state: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``state`` with the keys an older version of fastadapt wrote renamed to today's: every submodule may declare
    ``renamed_state_keys = {old prefix: new prefix}`` (the one place where old run folders are migrated)."""
    for name, module in model.named_modules():
        base = f"{name}." if name else ""
        for old, new in getattr(type(module), "renamed_state_keys", {}).items():
            old, new = base + old, base + new
            state = {(new + k[len(old) :] if k.startswith(old) else k): v for k, v in state.items()}
    return state


def load_checkpoint(
    path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> dict[str, Any]:
    """Restore ``model`` (and ``optimizer``) in place; returns the checkpoint's metadata."""
    tensors, header = read_checkpoint(path)
    state = migrate_keys({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}, model)
    full, skip = model.state_dict(), pretrained_keys(model) if "pretrained" in header else set()
    expected = {k: v for k, v in full.items() if k not in skip}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        made_by = header["meta"].get("config", {}).get("method", "?")
        raise CheckpointError(
            f"{path} belongs to another model (made by method {made_by!r}): "
            + "; ".join(
                s
                for s in (
                    f"missing {missing[:3]}" if missing else "",
                    f"unexpected {unexpected[:3]}" if unexpected else "",
                    f"shape mismatch in {wrong[:3]}" if wrong else "",
                )
                if s
            )
            + ". Load it with the preset/config it was trained with."
        )
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(
            f"{path} holds non-finite weights (NaN or infinity) in {len(bad)} tensor(s), e.g. {bad[:3]}: the run "
            f"diverged before it was saved, or the file was altered. Use an earlier checkpoint (best.safetensors) "
            f"or retrain with a lower learning rate."
        )
    if skip:
        stored = header["pretrained"]
        now = _checksum(full, skip)
        if len(skip) != stored["keys"] or abs(now - stored["abs_sum"]) > 1e-6 * max(1.0, abs(stored["abs_sum"])):
            raise CheckpointError(
                f"{path} was trained on top of other pretrained weights than the ones this model loaded "
                f"({stored['keys']} entries, checksum {stored['abs_sum']:.6g}; here {len(skip)}, {now:.6g}). "
                f"Install the same version of the pretrained model it was trained with."
            )
    model.load_state_dict(state, strict=not skip)
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
