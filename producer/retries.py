"""shared.retry, made interruptible: a stopping service must not sit out a backoff.

Every attempt is still logged by ``shared.retry`` ("temporary broker error (attempt 3):
..."); only the waiting between attempts is replaced by a wait that a shutdown cuts
short by raising ``Stopped``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from dueq.shared.retry import retrying

__all__ = ["Stopped", "retry_until_stopped"]

T = TypeVar("T")


class Stopped(Exception):
    """The service is shutting down; unwinds a retry loop."""


def retry_until_stopped(
    what: str,
    logger: logging.Logger,
    func: Callable[[], T],
    stopping: threading.Event,
    *,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Call ``func`` until it stops raising transient errors or ``stopping`` is set.

    ``sleep`` replaces the backoff wait (the loop drains its broker connection meanwhile,
    so heartbeats and wakeups keep flowing); it must return early once ``stopping`` is set.
    """

    def wait(seconds: float) -> None:
        if sleep is not None:
            sleep(seconds)
        elif stopping.wait(seconds):
            raise Stopped
        if stopping.is_set():
            raise Stopped

    def attempt() -> T:
        if stopping.is_set():
            raise Stopped
        return func()

    return retrying(what, logger).copy(sleep=wait)(attempt)
