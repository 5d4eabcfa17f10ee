"""Driving a broker connection until a condition holds (its callbacks run meanwhile)."""

from __future__ import annotations

from collections.abc import Callable

from dueq.shared.broker import BrokerConnection
from tests.support.waiting import wait_until

__all__ = ["DrainUntil", "drain_until"]

DrainUntil = Callable[[BrokerConnection, Callable[[], bool]], None]


def drain_until(
    conn: BrokerConnection,
    condition: Callable[[], bool],
    *,
    timeout: float,
    slice_s: float = 0.05,
) -> None:
    """Receive on ``conn`` (for up to ``slice_s`` at a time) until ``condition()`` holds.

    The consumers' callbacks only run inside ``drain_events``, so waiting for what they
    record means draining, not sleeping; each drain returns as soon as a frame arrives.
    """
    wait_until(
        condition,
        "the condition while draining events",
        timeout=timeout,
        interval=slice_s,
        pause=conn.drain_events,
    )
