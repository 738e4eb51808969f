"""Typed configuration records built from a run's flat ``key -> value`` dictionary (a preset with its ``--set``
changes, or a saved ``config.json``): each field's type annotation checks the value once, at the edge, so the code
behind it receives plain, correctly typed constructor arguments."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value of the wrong type or form, with the ``--set`` that fixes it."""


def field_types(cls: type) -> dict[str, Any]:
    """``name -> annotation`` of the fields of dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def setting(default: Any = dataclasses.MISSING, *, what: str, ok: Callable[[Any], bool], example: str) -> Any:
    """A dataclass field whose values must also pass ``ok``: ``what`` says which in words ('a positive integer'),
    ``example`` is a value to show in the ``--set`` hint. Without ``default`` the key must be set."""
    return dataclasses.field(default=default, metadata={"what": what, "ok": ok, "example": example})


def from_dict(cls: type[T], cfg: Mapping[str, Any], keys: Mapping[str, str] | None = None) -> T:
    """An instance of dataclass ``cls`` from the keys of ``cfg`` named like its fields (or as ``keys`` maps a field
    to its configuration key), each checked against the field's type and, for a `setting`, its condition (other
    keys belong to other parts of the run and are ignored; absent ones take the defaults, and a required one that
    is absent is a `ConfigError`)."""
    types_ = field_types(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        meta, key = f.metadata, (keys or {}).get(f.name, f.name)
        if key not in cfg:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key} is not set; set it with --set {key}={meta.get('example', 'VALUE')}.")
            continue
        value = cfg[key]
        if "ok" in meta and (check_fails(key, value, types_[f.name]) or not meta["ok"](value)):
            hint = f"set it with --set {key}={meta['example']}"
            raise ConfigError(f"{key} must be {meta['what']}, got {value!r}; {hint}.")
        kwargs[f.name] = check_value(key, value, types_[f.name])
    return cls(**kwargs)


def describe(tp: Any) -> str:
    """An annotation in words: ``int | None`` -> 'an integer or null'."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) in (list, tuple):
        return f"a list of {describe(typing.get_args(tp)[0]).split(' ', 1)[1]}s"
    if typing.get_origin(tp) is dict:
        key, value = (describe(a) for a in typing.get_args(tp))
        return f"a table from {key.split(' ', 1)[1]}s to {value.split(' ', 1)[1]}s"
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", type(None): "null"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _example(tp: Any) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return _example(next(a for a in typing.get_args(tp) if a is not type(None)))
    if typing.get_origin(tp) in (list, tuple):
        return "[0.5,0.5,0.5]"
    return {bool: "true", int: "5", float: "0.1", str: "NAME"}.get(tp, "VALUE")


def check_value(key: str, value: Any, tp: Any) -> Any:
    """``value`` as type ``tp`` (an int is taken for a float, a list for a tuple), or a `ConfigError` that says
    what was expected and how to set it."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return check_value(key, value, arg)
            except ConfigError:
                continue
    elif tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is dict and isinstance(value, dict):
        if not check_fails_any(key, value, args[0]) and not check_fails_any(key, value.values(), args[1]):
            return {check_value(key, k, args[0]): check_value(key, v, args[1]) for k, v in value.items()}
    elif origin in (list, tuple) and isinstance(value, (list, tuple)):
        if not check_fails_any(key, value, args[0]):
            items = [check_value(key, v, args[0]) for v in value]
            return items if origin is list else tuple(items)
    raise ConfigError(
        f"{key} must be {describe(tp)}, got {value!r} ({type(value).__name__}); set it with --set {key}={_example(tp)}."
    )


def parse_text(key: str, raw: str, tp: Any) -> Any:
    """The value of ``--set key=raw`` for a field of type ``tp``: JSON where it parses (numbers, true / false,
    null, lists), the text itself for a string field, then checked as `check_value` does."""
    wants_text = tp is str or (typing.get_origin(tp) in (typing.Union, types.UnionType) and str in typing.get_args(tp))
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    if wants_text and not isinstance(value, str) and check_fails(key, value, tp):
        value = raw
    if tp is bool and raw.lower() in ("true", "false", "1", "0", "yes", "no"):
        return raw.lower() in ("true", "1", "yes")
    return check_value(key, value, tp)


def check_fails(key: str, value: Any, tp: Any) -> bool:
    """Whether `check_value` refuses ``value`` as type ``tp``."""
    try:
        check_value(key, value, tp)
    except ConfigError:
        return True
    return False


def check_fails_any(key: str, values: Any, tp: Any) -> bool:
    return any(check_fails(key, v, tp) for v in values)
