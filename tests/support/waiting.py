"""Waiting for a condition with a deadline: the suite's one way to wait for something.

Tests never sleep a fixed time: they poll a check until it answers or a deadline passes,
then fail with a message naming what was awaited, how long, and whatever the caller can
add about the state seen (a process's log tail, the events received so far).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["DEFAULT_INTERVAL_S", "wait_until"]

T = TypeVar("T")

# Poll period: short next to every duration the suite waits on (leases and heartbeats are
# tenths of a second to seconds), long enough not to busy-spin a shared 2-core machine.
DEFAULT_INTERVAL_S = 0.02


def wait_until(
    check: Callable[[], T | bool | None],
    what: str,
    *,
    timeout: float,
    interval: float = DEFAULT_INTERVAL_S,
    describe: Callable[[], str] | None = None,
    pause: Callable[[float], object] = time.sleep,
) -> T:
    """Call ``check`` until it returns something truthy, and return that.

    ``check`` is called at once, then every ``interval`` seconds; it may raise to fail
    early (e.g. when a process it depends on died).  After ``timeout`` seconds without a
    truthy answer this raises ``AssertionError`` naming ``what`` and the timeout, followed
    by ``describe()``'s text if given (called only then: it may be expensive).

    ``pause(interval)`` spends the time between checks: ``time.sleep`` by default, or a
    broker connection's ``drain_events`` so that the messages being awaited are received
    while waiting (the check is then re-run as soon as something arrives).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result  # type: ignore[return-value]  # truthy: neither None nor False
        if time.monotonic() >= deadline:
            extra = describe() if describe is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{extra}")
        pause(interval)
