"""Name -> factory registries that modules fill in themselves, so adding a method, a task family or a
preset means adding one module, not editing a central list."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from types import ModuleType
from typing import Any


def import_submodules(package: ModuleType, skip: tuple[str, ...] = ()) -> None:
    """Import every module of ``package`` (each registers what it defines). Optional dependencies
    must be imported lazily inside functions, never at module level."""
    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in skip and not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")


class Registry(dict):
    """A dict with a decorator to register into it and an error that lists the known names."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def register(self, name: str) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            if name in self:
                raise KeyError(f"{self.what} {name!r} is registered twice.")
            self[name] = obj
            return obj

        return deco

    def get_or_raise(self, name: str) -> Any:
        if name not in self:
            import difflib

            close = difflib.get_close_matches(name, list(self), n=3)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"Unknown {self.what} {name!r}.{hint} Known: {sorted(self)}.")
        return self[name]
