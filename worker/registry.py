"""Which functions this worker may run, and how a wire ``func`` becomes one of them.

A job's ``func`` names either a registered job (``@job("reports.daily")`` in a module the
worker was told to import) or ``module:qualname`` under one of those module prefixes.
Resolving never imports: a message naming ``os:system``, ``builtins:eval`` or a module
nobody imported is refused by lookups alone, which is what stands between a broker
account and arbitrary code execution on every worker.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any

from dueq.shared.errors import ConfigError, DueqError
from dueq.shared.funcref import JOB_NAME_ATTRIBUTE, parse_func_ref

__all__ = ["NotAllowed", "Registry"]

log = logging.getLogger(__name__)

# The protocol bounds func at 255 characters; refusing longer text before parsing it keeps
# a hostile message from costing more than a length check.
_MAX_REF_CHARS = 255

Importer = Callable[[str], types.ModuleType]


class NotAllowed(DueqError):
    """A message names a function this worker may not run; never retried."""

    def __init__(self, ref: str, reason: str) -> None:
        self.ref = ref[:100]
        self.reason = f"function {self.ref!r} is not allowed: {reason}"
        super().__init__(self.reason)


class Registry:
    """The allowlist: registered job names plus the module prefixes given with ``--import``.

    ``load()`` imports the listed modules once (at worker start, never per message) and
    collects their ``@job`` functions; ``resolve()`` is then safe to call from any thread.
    Besides registered names, ``module:name`` resolves only to a plain, public function
    defined in ``module``, a module under a prefix that was imported when ``load()`` ran.
    ``allow_callables=True`` (``DUEQ_ALLOW_CALLABLES``) widens that to any public callable
    (classes, ``Class.method`` paths, callable objects, re-exports from other allowed
    modules); the prefixes, the no-import rule and the no-private-names rule still hold.
    """

    def __init__(
        self,
        imports: Iterable[str] = (),
        *,
        importer: Importer | None = None,
        allow_callables: bool = False,
    ) -> None:
        self._prefixes = tuple(imports)
        self._import = importer or importlib.import_module
        self._wide = allow_callables
        self._loaded: dict[str, types.ModuleType] = {}
        self._named: dict[str, Callable[..., Any]] = {}
        self._resolved: dict[str, Callable[..., Any]] = {}

    @property
    def prefixes(self) -> tuple[str, ...]:
        """The module prefixes whose functions may run."""
        return self._prefixes

    def load(self) -> None:
        """Import every ``--import`` module and register the ``@job`` functions in it."""
        for name in self._prefixes:
            try:
                module = self._import(name)
            except ImportError as exc:
                raise ConfigError(
                    f"cannot import --import module {name!r}: {exc}{_searched(name, exc)}"
                ) from exc
            self.scan(module)
        # The modules a func may name: those under the prefixes imported by now.
        self._loaded = {
            name: module
            for name, module in list(sys.modules.items())
            if isinstance(module, types.ModuleType) and self._allows(name)
        }

    def scan(self, module: types.ModuleType) -> None:
        """Register every function of ``module`` that carries an ``@job`` name."""
        for value in list(vars(module).values()):
            name = getattr(value, JOB_NAME_ATTRIBUTE, None)
            if isinstance(name, str) and callable(value):
                self.register(value, name)

    def register(self, func: Callable[..., Any], name: str | None = None) -> None:
        """Allow ``func`` under ``name`` (its ``@job`` name when omitted)."""
        name = name or getattr(func, JOB_NAME_ATTRIBUTE, None)
        if not isinstance(name, str):
            raise ConfigError(f"{func!r} has no @job name; pass one")
        known = self._named.get(name)
        if known is not None and known is not func:
            raise ConfigError(f"two functions are registered as job {name!r}")
        self._named[name] = func

    @property
    def names(self) -> list[str]:
        """Registered job names, sorted (for the start-up log)."""
        return sorted(self._named)

    def resolve(self, ref: str) -> Callable[..., Any]:
        """The function ``ref`` names, or ``NotAllowed``.  Never imports anything."""
        found = self._resolved.get(ref) or self._named.get(ref)
        if found is not None:
            return found
        func = self._resolve_new(ref)
        self._resolved[ref] = func  # a dict store is atomic under the GIL
        return func

    def _resolve_new(self, ref: str) -> Callable[..., Any]:
        if len(ref) > _MAX_REF_CHARS:
            raise NotAllowed(ref, f"longer than {_MAX_REF_CHARS} characters")
        try:
            module_name, qualname = parse_func_ref(ref)
        except ConfigError as exc:
            raise NotAllowed(ref, "not a registered name or module:qualname") from exc
        if module_name is None:
            raise NotAllowed(ref, "no job is registered under this name")
        if not self._allows(module_name):
            raise NotAllowed(ref, f"module {module_name!r} is not under --import {self._shown()}")
        module = self._loaded.get(module_name)
        if module is None:
            # Importing here would run a stranger-chosen module's top level in the broker
            # thread (a sys.exit, a 17 s sleep, a SyntaxError): only modules already
            # imported when the worker started count.
            raise NotAllowed(ref, f"module {module_name!r} was not imported at start-up")
        return self._check_callable(ref, module_name, self._attribute(ref, module, qualname))

    def _attribute(self, ref: str, module: types.ModuleType, qualname: str) -> Any:
        if "." in qualname and not self._wide:
            raise NotAllowed(ref, "only module-level functions are jobs (no attributes of objects)")
        target: Any = module
        for part in qualname.split("."):
            # Private and dunder names are the module's own business (mod:_helper,
            # mod:__builtins__.eval, mod:f.__globals__).
            if part.startswith("_"):
                raise NotAllowed(ref, "private names are not job functions")
            target = (
                vars(target).get(part)
                if isinstance(target, types.ModuleType)
                else (getattr(target, part, None))
            )
            if target is None:
                raise NotAllowed(ref, f"{module.__name__!r} has no attribute {qualname!r}")
            if isinstance(target, types.ModuleType):
                raise NotAllowed(ref, "the path leaves the allowed module")
        return target

    def _allows(self, module_name: str) -> bool:
        return any(module_name == p or module_name.startswith(p + ".") for p in self._prefixes)

    def _shown(self) -> str:
        return ", ".join(self._prefixes) or "(none given)"

    def _check_callable(self, ref: str, module_name: str, target: Any) -> Callable[..., Any]:
        if not self._wide and not isinstance(target, types.FunctionType):
            # Classes (a Popen subclass runs a command when "called"), builtins, partials
            # and callable instances are not job functions.
            raise NotAllowed(ref, f"it is a {type(target).__name__}, not a plain function")
        if not callable(target):
            raise NotAllowed(ref, "it is not a function")
        defined_in = getattr(inspect.unwrap(target), "__module__", None)
        if not isinstance(defined_in, str) or not self._allows(defined_in):
            # Re-exported from elsewhere (``from os import system`` in an allowed module).
            raise NotAllowed(ref, f"it is defined in {defined_in!r}, outside --import")
        if defined_in != module_name and not self._wide:
            raise NotAllowed(
                ref, f"it is defined in {defined_in!r}; name it there, or register it with @job"
            )
        return target  # type: ignore[no-any-return]  # callable() checked above


def _searched(name: str, exc: ImportError) -> str:
    """Where Python looked, when the module itself (not one it imports) was not found."""
    missing = getattr(exc, "name", None)
    if not isinstance(exc, ModuleNotFoundError) or not isinstance(missing, str):
        return ""
    if not (name == missing or name.startswith(missing + ".")):
        return ""  # the module exists; something it imports is missing
    folders = [entry or "." for entry in sys.path]
    return (
        f" (searched {', '.join(folders)}; start the worker in the app's folder or pass --app-dir)"
    )
