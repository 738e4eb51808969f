"""Named configurations ``<benchmark>-<method>-<setting>``: flat dicts of plain values that
`fastadapt train --preset NAME --set key=value` starts from."""

from __future__ import annotations

import difflib
import json
import math
import sys
from typing import Any

from ..configs import LEARNER_CONFIGS
from ..configs.typed import field_types, parse_text
from ..registry import import_submodules

# Defaults every preset starts from; a preset overrides some of them.
DEFAULTS: dict[str, Any] = {
    "dataset": "omniglot",
    "split": "vinyals",
    "image_size": 28,
    "data_root": "",
    "method": "protonet",
    "distance": "euclidean",
    "hidden": 64,
    "channels": 1,
    "ways": 5,
    "shots": 1,
    "queries": 15,  # evaluation episodes
    "train_ways": 60,
    "train_shots": 1,
    "train_queries": 5,  # training episodes
    "meta_batch": 1,
    "steps": 3000,
    "lr": 1e-3,
    "lr_decay_every": 2000,
    "lr_decay": 0.5,
    "log_every": 50,
    "ckpt_every": 250,
    "val_every": 500,
    "val_episodes": 200,
    "eval_episodes": 1000,
    "eval_seed": 2017,
    "seed": 0,
    "device": "auto",
    "max_train_seconds": 0.0,  # > 0: stop training after this wall time
    "grad_clip": 0.0,  # > 0: clip the meta-gradient's norm to this (train.loop.update)
    "eval_bn": "running",  # test-time BatchNorm (Learner docstring)
    "init_from": "",  # start from a trained run's weights
    "encoder_from": "",  # start `encoder` from another run's
    "backbone": "conv4",  # conv4 | resnet12 | efficientnet_lite0
    "input_mean": [],
    "input_std": [],  # per-channel input standardization (colour sets)
    "precision": "fp32",  # fp32 | bf16 | fp16 (CUDA): the encoder's autocast
    "augment": "",  # "natural": crop, flip, colour jitter (training)
    "freeze_encoder": False,
    "tta_flip": False,  # fixed (pretrained) encoder; mirror-averaged test features
    "tta_crop": 0,  # > 0: test features mixed with the five crops' of this side (pixels), at tta_crop_weight
    "tta_crop_weight": 1.0,
    "feature_transform": "",  # ProtoNet: "power" (Hu 2021) before the prototypes
    "head_steps": 0,  # ProtoNet: fit the cosine head on the support set
    "transductive_steps": 0,
    "transductive_temperature": 1.0,  # ProtoNet: soft k-means over the queries (Ren 2018)
}

PRESETS: dict[str, dict[str, Any]] = {}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def register(name: str, description: str, extra: dict[str, Any] | None = None, **overrides: Any) -> None:
    """Register preset ``name``: ``overrides`` change DEFAULTS; ``extra`` adds keys of the preset's own
    (method hyper-parameters), which `--set` can then change too."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"Preset {name!r} sets unknown keys {sorted(unknown)}; pass new keys in `extra`.")
    if name in PRESETS:
        raise KeyError(f"Preset {name!r} is registered twice.")
    PRESETS[name] = {"description": description, **overrides, **(extra or {})}


NO_DECAY = 10**9  # an `lr_decay_every` never reached: a constant learning rate


def schedule(
    steps: int,
    lr: float | None = None,
    decay_every: int | None = None,
    log: int | None = None,
    ckpt: int | None = None,
    val: int | None = None,
    **more: Any,
) -> dict[str, Any]:
    """The training-schedule keys of a preset: ``steps`` trainer steps at learning rate ``lr``, decayed every
    ``decay_every`` steps, with a log line, a checkpoint and a validation every ``log``, ``ckpt`` and ``val`` steps.
    An argument left None is left out (the preset keeps the DEFAULTS value); ``more`` adds other keys."""
    keys = dict(steps=steps, lr=lr, lr_decay_every=decay_every, log_every=log, ckpt_every=ckpt, val_every=val)
    return {**{k: v for k, v in keys.items() if v is not None}, **more}


def episodes(ways: int | None, shots: int | str, train_queries: int | str, **more: Any) -> dict[str, Any]:
    """The episode keys of a preset trained on its test setting: ``ways``-way ``shots``-shot episodes in testing and
    in training, with ``train_queries`` queries per class in training; ``more`` adds or overrides keys (``queries``,
    the test queries per class, or a different ``train_ways``)."""
    return dict(ways=ways, shots=shots, train_ways=ways, train_shots=shots, train_queries=train_queries) | more


def did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=3)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def get_preset(name: str) -> dict[str, Any]:
    """The full configuration of preset ``name`` (defaults with its overrides applied)."""
    if name not in PRESETS:
        raise KeyError(
            f"Unknown preset {name!r}.{did_you_mean(name, sorted(PRESETS))} `fastadapt presets` lists them all."
        )
    cfg = {**DEFAULTS, **{k: v for k, v in PRESETS[name].items() if k != "description"}}
    cfg["preset"] = name
    return cfg


def _finite_numbers(value: Any) -> list[float] | None:
    """``value`` as a list of finite floats, or None when it is not a list of finite numbers (JSON also parses
    NaN, Infinity and 1e999, and booleans)."""
    if not isinstance(value, list):
        return None
    numbers = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        try:
            v = float(v)
        except OverflowError:  # an integer beyond float range
            return None
        if not math.isfinite(v):
            return None
        numbers.append(v)
    return numbers


def _coerce(key: str, raw: str, default: Any) -> Any:
    if default is None and DEFAULTS.get(key) is not None:  # unset in this preset (e.g. ways for regression):
        default = DEFAULTS[key]  # typed like the library default
    if isinstance(default, list):
        try:
            value = _finite_numbers(json.loads(raw))
        except (ValueError, RecursionError):  # not JSON (JSONDecodeError), or nested too deep
            value = None
        if value is None:
            raise ValueError(f"--set {key}={raw}: expected a JSON list of finite numbers, e.g. [0.5,0.5,0.5].")
        return value
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return raw.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            value = int(raw)
            if not INT64_MIN <= value <= INT64_MAX:  # torch and numpy take 64-bit integers
                raise ValueError(
                    f"--set {key}={raw}: does not fit in a 64-bit integer; pass a value between "
                    f"{INT64_MIN} and {INT64_MAX} (default {default!r})."
                )
            return value
        if isinstance(default, float):
            value = float(raw)
            if math.isnan(value):  # "nan" parses, but no setting means it
                raise ValueError(f"--set {key}={raw}: expected a number, not NaN (default {default!r}).")
            return value
    except ValueError as e:
        if str(e).startswith("--set "):
            raise
        what = {bool: "a boolean (true / false)", int: "an integer", float: "a number"}.get(type(default), "a value")
        raise ValueError(f"--set {key}={raw}: expected {what} (default {default!r}).") from None
    return raw


def apply_overrides(cfg: dict[str, Any], pairs: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` strings, typed like the existing value, or, for a setting of the run's method that the
    preset does not write, by that setting's type in the method's configuration (`fastadapt.configs`); unknown
    keys get a did-you-mean."""
    cfg = dict(cfg)
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set takes key=value, got {pair!r}.")
        key, raw = pair.split("=", 1)
        fields = method_fields(cfg)
        if key in fields and cfg.get(key) is None:  # a setting of the run's method the preset leaves unset
            cfg[key] = parse_text(key, raw, fields[key])  # typed by its field in the method's configuration
        elif key in cfg:
            cfg[key] = _coerce(key, raw, cfg[key])
        else:
            known = sorted(set(cfg) | set(fields))
            raise KeyError(f"Unknown --set key {key!r}.{did_you_mean(key, known)} Known keys: {', '.join(known)}.")
    return cfg


def method_fields(cfg: dict[str, Any]) -> dict[str, Any]:
    """``key -> type`` of the settings the typed configuration of ``cfg["method"]`` offers (none for a method
    without one, e.g. the learned optimizers' ``l2o``)."""
    config_cls = LEARNER_CONFIGS.get(cfg.get("method", ""))
    return field_types(config_cls) if config_cls is not None else {}


import_submodules(sys.modules[__name__])
