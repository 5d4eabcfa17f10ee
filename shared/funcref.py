"""How a job function is named on the wire, shared by the scheduler and the workers.

A job's ``func`` is either a registered name (``@job("reports.daily")``) or a
``module:qualname`` reference.  The scheduler turns a callable into one of these at
``add_job`` time; workers resolve it against an allowlist and never import anything else.
Closures, lambdas and functions defined in ``__main__`` are refused: another process could
not find them (APScheduler users hit this as pickling errors, #100, #221).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from dueq.shared.errors import ConfigError

__all__ = ["JOB_NAME_ATTRIBUTE", "func_ref", "job", "parse_func_ref"]

F = TypeVar("F", bound=Callable[..., Any])

# The attribute @job sets on a function; workers find registered functions through it.
JOB_NAME_ATTRIBUTE = "__dueq_job_name__"

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_MODULE_QUALNAME = re.compile(
    rf"^(?P<module>{_IDENT}(\.{_IDENT})*):(?P<qualname>{_IDENT}(\.{_IDENT})*)$"
)
_REGISTERED_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}$")


def job(name: str) -> Callable[[F], F]:
    """Register a function under ``name``: workers that import its module may run it.

    The decorator only marks the function; it has no effect at import time beyond that.
    """
    if not _REGISTERED_NAME.match(name) or ":" in name:
        raise ConfigError(f"invalid job name {name!r}: use letters, digits and . _ -")

    def mark(func: F) -> F:
        setattr(func, JOB_NAME_ATTRIBUTE, name)
        return func

    return mark


def func_ref(func: str | Callable[..., Any]) -> str:
    """The wire form of ``func``: its registered name, or ``module:qualname``."""
    if isinstance(func, str):
        parse_func_ref(func)
        return func
    registered = getattr(func, JOB_NAME_ATTRIBUTE, None)
    if isinstance(registered, str):
        return registered
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname:
        raise ConfigError(f"{func!r} has no module and qualified name; pass a function")
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise ConfigError(
            f"{module}:{qualname} is a lambda or a nested function; workers in other "
            "processes cannot import it. Define it at module level"
        )
    if module == "__main__":
        raise ConfigError(
            f"{qualname} is defined in __main__; workers cannot import it. Move it into an "
            "importable module, or register it with @job(name)"
        )
    return f"{module}:{qualname}"


def parse_func_ref(ref: str) -> tuple[str | None, str]:
    """Split a reference into (module, qualname) or (None, registered name); refuse others."""
    match = _MODULE_QUALNAME.match(ref)
    if match:
        return match["module"], match["qualname"]
    if _REGISTERED_NAME.match(ref):
        return None, ref
    raise ConfigError(
        f"invalid function reference {ref[:100]!r}: expected a registered name or module:qualname"
    )
