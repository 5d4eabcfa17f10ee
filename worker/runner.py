"""Calling a job function and capturing what happened, in any process.

``invoke`` returns an ``Outcome`` made of plain values only, so the process executor can
send it back from a child through a pipe; the reporter turns it into a ``job_executed``
or ``job_error`` event.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import inspect
import json
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dueq.shared.protocol import MAX_TRACEBACK_CHARS
from dueq.shared.utf8 import encodable

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_RETVAL_BYTES",
    "MAX_RETVAL_REPR_CHARS",
    "Outcome",
    "failure",
    "invoke",
    "invoke_async",
    "stopped",
    "timed_out",
    "without_details",
]

# A return value travels in the event only if its JSON fits in 64 KiB; bigger results
# belong in the job's own storage, and the event stays far below the broker's frame sizes.
MAX_RETVAL_BYTES = 64 * 1024
# When the return value is not JSON (or too big), its repr is cut to this many characters.
MAX_RETVAL_REPR_CHARS = 1024
# The protocol's ShortText bound for an exception message.
MAX_MESSAGE_CHARS = 4096

# Values that are JSON as they are.  Not ``int``: one of over 4,300 digits is written by the
# JSON encoder but refused by the reader (the scheduler's, like Python's ``json``), so ints
# go through ``json.dumps``, which has the same limit.
_SCALARS = (type(None), bool)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call did: its return value or its exception, and when it ran (UTC)."""

    started_at: datetime
    finished_at: datetime
    duration_s: float
    retval: Any = None
    retval_is_repr: bool = False
    error_type: str | None = None
    error_message: str = ""
    traceback: str = ""
    #: Qualified names of the exception's classes, most derived first (for ``retry_on``).
    error_classes: tuple[str, ...] = ()
    timed_out: bool = False
    #: The worker stopped it for a newer run (``overlap=cancel_other``): never retried.
    cancelled: bool = False

    @property
    def failed(self) -> bool:
        """True if the job raised."""
        return self.error_type is not None


def invoke(func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Outcome:
    """Call ``func(*args, **kwargs)``; never raises for the job's own exceptions.

    Every ``BaseException`` the job raises (``SystemExit``, ``KeyboardInterrupt``,
    ``GeneratorExit``) is the run's error outcome: the slot thread lives on.
    """
    started_at, start = datetime.now(UTC), time.perf_counter()
    try:
        args, kwargs = _own_copy(args, kwargs)
        retval = func(*args, **kwargs)
        if inspect.isawaitable(retval):
            _close(retval)
            raise TypeError(
                f"{_name(func)} returned an awaitable; run async jobs with --executor asyncio"
            )
    except BaseException as exc:  # a job's SystemExit is its own failure, not ours
        # An argparse entry point given bad arguments raises SystemExit; left to propagate
        # it would end the slot thread silently and the worker would run nothing more.
        return failure(exc, started_at, time.perf_counter() - start)
    return _success(retval, started_at, time.perf_counter() - start)


async def invoke_async(
    func: Callable[..., Awaitable[Any]], args: list[Any], kwargs: dict[str, Any]
) -> Outcome:
    """Await ``func(*args, **kwargs)`` (an ``async def`` job) inside a running loop."""
    started_at, start = datetime.now(UTC), time.perf_counter()
    try:
        args, kwargs = _own_copy(args, kwargs)
        retval = await func(*args, **kwargs)
    except asyncio.CancelledError:
        raise  # the executor's timeout (asyncio.timeout) must see its own cancellation
    except BaseException as exc:  # SystemExit from a job is its failure, not ours
        return failure(exc, started_at, time.perf_counter() - start)
    return _success(retval, started_at, time.perf_counter() - start)


def _success(retval: Any, started_at: datetime, duration: float) -> Outcome:
    value, is_repr = _portable(retval)
    return Outcome(
        started_at=started_at,
        finished_at=_after(started_at, duration),
        duration_s=duration,
        retval=value,
        retval_is_repr=is_repr,
    )


def failure(exc: BaseException, started_at: datetime, duration: float) -> Outcome:
    """The ``Outcome`` of a call that raised ``exc`` (also used for executor failures)."""
    text = encodable("".join(traceback.format_exception(exc)))
    if len(text) > MAX_TRACEBACK_CHARS:
        # Keep the innermost frames and the exception line: that is where the bug is.
        marker = "... (traceback truncated)\n"
        text = marker + text[-(MAX_TRACEBACK_CHARS - len(marker)) :]
    return Outcome(
        started_at=started_at,
        finished_at=_after(started_at, duration),
        duration_s=duration,
        error_type=_qualified(type(exc)),
        error_message=_cut(encodable(_safely(str, exc)), MAX_MESSAGE_CHARS),
        traceback=text,
        error_classes=tuple(_qualified(cls) for cls in type(exc).__mro__),
    )


def without_details(outcome: Outcome, why: str) -> Outcome:
    """``outcome`` reduced to what cannot fail to send: its timing and whether it failed,
    with ``why`` in place of its return value or exception text (see ``handler``)."""
    note = _cut(encodable(why), MAX_MESSAGE_CHARS)
    if not outcome.failed:
        return dataclasses.replace(
            outcome, retval=_cut(note, MAX_RETVAL_REPR_CHARS), retval_is_repr=True
        )
    return dataclasses.replace(
        outcome, error_type="dueq.UnsendableOutcome", error_message=note, traceback=""
    )


def stopped(started_at: datetime, duration: float, why: str) -> Outcome:
    """The ``Outcome`` of a call the worker stopped on purpose (``why`` says what for)."""
    return Outcome(
        started_at=started_at,
        finished_at=_after(started_at, duration),
        duration_s=duration,
        error_type="CancelledError",
        error_message=why,
        error_classes=("CancelledError", "BaseException", "object"),
        cancelled=True,
    )


def timed_out(timeout: float, started_at: datetime, duration: float, what: str) -> Outcome:
    """The ``Outcome`` of a call stopped at its ``timeout``; ``what`` says how it was stopped."""
    return Outcome(
        started_at=started_at,
        finished_at=_after(started_at, duration),
        duration_s=duration,
        error_type="TimeoutError",
        error_message=f"the job ran longer than its timeout of {timeout:g} s; {what}",
        error_classes=("TimeoutError", "OSError", "Exception", "BaseException", "object"),
        timed_out=True,
    )


def _own_copy(args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """The job's own copy of the lists and objects among its arguments.

    They belong to the RunRequest, which the worker still needs after the call: a failed
    run's ``retry_request`` echoes it as received.  A job changing a list it was given
    changed the retry's arguments, and one that put something JSON cannot hold into it
    made the error impossible to report.  Scalars need no copy (``*args`` and ``**kwargs``
    already make new top-level containers).
    """
    nested = (list, dict)
    if any(isinstance(a, nested) for a in args) or any(
        isinstance(v, nested) for v in kwargs.values()
    ):
        return copy.deepcopy(args), copy.deepcopy(kwargs)
    return args, kwargs


def _portable(retval: Any) -> tuple[Any, bool]:
    """The return value as JSON-ready data, or its truncated repr and True."""
    if isinstance(retval, _SCALARS):
        return retval, False
    try:
        text = json.dumps(retval, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return _repr_of(retval), True
    if len(text.encode()) > MAX_RETVAL_BYTES:
        return _repr_of(retval), True
    # Round-trip so tuples become lists and keys become strings, exactly as on the wire.
    value = json.loads(text)
    if "\\u" in text and not _encodable(value):
        return _repr_of(retval), True  # text UTF-8 cannot carry: not JSON on the wire
    return value, False


def _encodable(value: Any) -> bool:
    """True if ``value``'s JSON is valid UTF-8 (no lone surrogate in any string)."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def _repr_of(retval: Any) -> str:
    return _cut(encodable(_safely(repr, retval)), MAX_RETVAL_REPR_CHARS)


def _safely(render: Callable[[Any], str], value: Any) -> str:
    """``repr(value)`` or ``str(value)``: a broken ``__repr__`` or ``__str__`` must neither
    turn a success into a failure nor lose the run's outcome."""
    try:
        return render(value)
    except Exception as exc:
        return f"<{type(value).__name__} object; {render.__name__}() raised {type(exc).__name__}>"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _qualified(cls: type[BaseException]) -> str:
    if cls.__module__ == "builtins":
        return cls.__qualname__
    # A class name cannot hold a lone surrogate, but ``__module__`` is any string.
    return _cut(encodable(f"{cls.__module__}.{cls.__qualname__}"), 255)


def _name(func: Callable[..., Any]) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def _close(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()  # avoids "coroutine was never awaited" warnings


def _after(started_at: datetime, duration: float) -> datetime:
    return started_at + timedelta(seconds=duration)
