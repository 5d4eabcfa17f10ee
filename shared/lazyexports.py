"""Packages whose re-exported names are imported on first use (PEP 562).

A package ``__init__`` that imports every implementation makes whoever needs one of them
pay for all: ``dueq jobs list`` needs the SQL job store, not the memory one, the run
history it imports, and every event model behind that.  Such a package lists where each
name lives and lets ``lazy_exports`` supply its ``__getattr__`` and ``__dir__``; an
``if TYPE_CHECKING:`` block of plain imports gives the type checker the same names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    namespace: MutableMapping[str, Any], table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for the package whose ``globals()`` is ``namespace``.

    ``table`` maps each public name to the module defining it; a name is imported the first
    time it is asked for and then kept in ``namespace``, so later lookups are plain.
    """
    package = namespace["__name__"]

    def load(name: str) -> Any:
        home = table.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    def names() -> list[str]:
        return sorted({*namespace, *table})

    return load, names
