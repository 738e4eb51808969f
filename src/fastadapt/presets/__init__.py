"""Named configurations ``<benchmark>-<method>-<setting>``: flat dicts of plain values that
`fastadapt train --preset NAME --set key=value` starts from."""
from __future__ import annotations

import difflib
import json
import sys
from typing import Any

from ..registry import import_submodules

# Defaults every preset starts from; a preset overrides some of them.
DEFAULTS: dict[str, Any] = {
    "dataset": "omniglot", "split": "vinyals", "image_size": 28, "data_root": "",
    "method": "protonet", "distance": "euclidean", "hidden": 64, "channels": 1,
    "ways": 5, "shots": 1, "queries": 15,                      # evaluation episodes
    "train_ways": 60, "train_shots": 1, "train_queries": 5,    # training episodes
    "meta_batch": 1, "steps": 3000, "lr": 1e-3, "lr_decay_every": 2000, "lr_decay": 0.5,
    "log_every": 50, "ckpt_every": 250, "val_every": 500, "val_episodes": 200,
    "eval_episodes": 1000, "eval_seed": 2017, "seed": 0, "device": "auto",
    "max_train_seconds": 0.0,                                  # > 0: stop training after this wall time
    "eval_bn": "running",                                      # test-time BatchNorm (Learner docstring)
    "init_from": "",                                           # start from a trained run's weights
    "encoder_from": "",                                        # start `encoder` from another run's
    "backbone": "conv4",                                       # conv4 | resnet12 | efficientnet_lite0
    "input_mean": [], "input_std": [],                         # per-channel input standardization (colour sets)
    "precision": "fp32",                                       # fp32 | bf16 | fp16 (CUDA): the encoder's autocast
    "augment": "",                                             # "natural": crop, flip, colour jitter (training)
    "freeze_encoder": False, "tta_flip": False,                # fixed (pretrained) encoder; mirror-averaged test features
    "feature_transform": "",                                   # ProtoNet: "power" (Hu 2021) before the prototypes
    "head_steps": 0,                                           # ProtoNet: fit the cosine head on the support set
}

PRESETS: dict[str, dict[str, Any]] = {}


def register(name: str, description: str, extra: dict[str, Any] | None = None, **overrides: Any) -> None:
    """Register preset ``name``: ``overrides`` change DEFAULTS; ``extra`` adds keys of the preset's own
    (method hyper-parameters), which `--set` can then change too."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"Preset {name!r} sets unknown keys {sorted(unknown)}; pass new keys in `extra`.")
    if name in PRESETS:
        raise KeyError(f"Preset {name!r} is registered twice.")
    PRESETS[name] = {"description": description, **overrides, **(extra or {})}


def did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=3)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def get_preset(name: str) -> dict[str, Any]:
    """The full configuration of preset ``name`` (defaults with its overrides applied)."""
    if name not in PRESETS:
        raise KeyError(f"Unknown preset {name!r}.{did_you_mean(name, sorted(PRESETS))} "
                       f"`fastadapt presets` lists them all.")
    cfg = {**DEFAULTS, **{k: v for k, v in PRESETS[name].items() if k != "description"}}
    cfg["preset"] = name
    return cfg


def _coerce(key: str, raw: str, default: Any) -> Any:
    if isinstance(default, list):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, (int, float)) for v in value):
            raise ValueError(f"--set {key}={raw}: expected a JSON list of numbers, e.g. [0.5,0.5,0.5].")
        return [float(v) for v in value]
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return raw.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ValueError(f"--set {key}={raw}: expected a {type(default).__name__} (default {default!r}).") from None
    return raw


def apply_overrides(cfg: dict[str, Any], pairs: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` strings, typed like the existing value; unknown keys get a did-you-mean."""
    cfg = dict(cfg)
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set takes key=value, got {pair!r}.")
        key, raw = pair.split("=", 1)
        if key not in cfg:
            raise KeyError(f"Unknown --set key {key!r}.{did_you_mean(key, sorted(cfg))} "
                           f"Known keys: {', '.join(sorted(cfg))}.")
        cfg[key] = _coerce(key, raw, cfg[key])
    return cfg


import_submodules(sys.modules[__name__])
