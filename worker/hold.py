"""Holding runs that arrive before their time, and releasing each at its ``scheduled_at``.

The scheduler publishes runs up to its look-ahead window early (docs/dispatch.md), so the
publish, the confirm and the delivery happen before the instant instead of after it.  The
broker thread keeps such a run here, still unacknowledged (so it counts against prefetch
and a worker that dies while holding it has it redelivered), and hands it to a slot once
it is due: the misfire check, the claim and the start all happen after the instant.

How long to hold is measured on both clocks and the shorter wins: until ``scheduled_at``
by this host's clock, and no longer than the scheduler's own lead (``scheduled_at -
published_at``, both stamped by the scheduler) after receipt.  A worker whose clock runs
behind the scheduler's therefore never starts runs late because of it, and a message
stamped far in the future is held at most ``max_hold`` seconds: nothing a message says
can park a prefetch slot for long.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from datetime import datetime

from dueq.worker.checks import Delivery

__all__ = ["DEFAULT_MAX_HOLD_S", "HoldQueue"]

# Longest a run is held, whatever it says: twice the longest look-ahead a scheduler
# accepts (5 s), far below RabbitMQ's consumer ack timeout (30 min).
DEFAULT_MAX_HOLD_S = 10.0


def _hold_seconds(scheduled_at: datetime, published_at: datetime, now: float) -> float:
    """Seconds to wait from ``now`` (this host's epoch time) before starting the run."""
    by_local_clock = scheduled_at.timestamp() - now
    by_scheduler_lead = (scheduled_at - published_at).total_seconds()
    return min(by_local_clock, by_scheduler_lead)


class HoldQueue:
    """Deliveries not yet due, ordered by the moment they are released (one thread only)."""

    def __init__(
        self, *, max_hold: float = DEFAULT_MAX_HOLD_S, clock: Callable[[], float] = time.time
    ) -> None:
        self._max_hold = max_hold
        self._clock = clock
        self._heap: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()  # ties keep arrival order; deliveries don't compare

    def __len__(self) -> int:
        return len(self._heap)

    def hold(self, delivery: Delivery) -> bool:
        """Keep ``delivery`` if it is early and return True; False means start it now."""
        now = self._clock()
        run = delivery.run
        wait = min(_hold_seconds(run.scheduled_at, run.published_at, now), self._max_hold)
        if wait <= 0:
            return False
        heapq.heappush(self._heap, (now + wait, next(self._order), delivery))
        return True

    def release_due(self) -> list[Delivery]:
        """Remove and return the deliveries whose moment has come, earliest first."""
        now = self._clock()
        due = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap)[2])
        return due

    def seconds_to_next(self) -> float | None:
        """How long until the next release (0 if one is due), or None when empty."""
        if not self._heap:
            return None
        return max(self._heap[0][0] - self._clock(), 0.0)

    def take_all(self) -> list[Delivery]:
        """Remove and return every held delivery (lost connection, shutdown)."""
        held = [entry[2] for entry in sorted(self._heap)]
        self._heap.clear()
        return held
