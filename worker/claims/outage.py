"""Calling a claim store through a database outage of up to one claim lease."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from dueq.shared.errors import StoreUnavailable
from dueq.shared.retry import call_with_retry

__all__ = ["call_store"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def call_store(call: Callable[[], T], lease: timedelta) -> T:
    """``call()``, retried for up to ``lease`` while it raises ``StoreUnavailable``.

    Longer than a lease, claims held elsewhere may have lapsed (DESIGN.md's outage
    bound), so the caller then hands its runs back instead.
    """
    try:
        return call()  # the common case, without building a retry policy per call
    except StoreUnavailable as exc:
        log.warning("temporary database error: %s", exc)
    return call_with_retry("database", log, call, give_up_after=lease.total_seconds())
