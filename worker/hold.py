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

Without a database the broker thread holds runs itself and wakes for each (``hold``,
``release_due``).  With a database the gate's thread waits here (``put_all``,
``wait_due``), so a broker thread busy waiting for the confirms of a batch of events never
delays a release.  It is woken the claim lead (``lead``, ``DUEQ_CLAIM_LEAD``) before the
instant, so the claim's round trips to the database are over when the instant comes; each
run is stamped with its instant (``Delivery.due_at``) and its slot waits for it
(``wait_until_due``).  A run the early claim refuses for ``max_instances`` is held again
until its very instant (``put_at_instant``) and claimed once more there: an instance that
frees itself within the lead is still this run's.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from dueq.worker.checks import Delivery

__all__ = ["DEFAULT_MAX_HOLD_S", "HoldQueue", "wait_until_due"]

# Longest a run is held, whatever it says: twice the longest look-ahead a scheduler
# accepts (5 s), far below RabbitMQ's consumer ack timeout (30 min).
DEFAULT_MAX_HOLD_S = 10.0


def _hold_seconds(scheduled_at: datetime, published_at: datetime, now: float) -> float:
    """Seconds to wait from ``now`` (this host's epoch time) before starting the run."""
    by_local_clock = scheduled_at.timestamp() - now
    by_scheduler_lead = (scheduled_at - published_at).total_seconds()
    return min(by_local_clock, by_scheduler_lead)


def wait_until_due(
    delivery: Delivery,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once ``delivery`` may start: at its ``due_at`` (at once if never held).

    A slot calls this before anything else, so a run claimed ahead of its instant is
    neither checked for lateness nor started before it.  The wait is at most the claim lead.
    """
    wait = delivery.due_at - clock()
    while wait > 0:
        sleep(wait)
        wait = delivery.due_at - clock()


class HoldQueue:
    """Deliveries not yet due, ordered by the moment they are released (thread-safe).

    ``lead`` releases runs put with ``put_all`` that many seconds before they are due.
    """

    def __init__(
        self,
        *,
        max_hold: float = DEFAULT_MAX_HOLD_S,
        clock: Callable[[], float] = time.time,
        lead: float = 0.0,
    ) -> None:
        self._max_hold = max_hold
        self._lead = lead
        self._clock = clock
        self._heap: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()  # ties keep arrival order; deliveries don't compare
        self._changed = threading.Condition()  # guards the heap; notified on every put
        self._closed = False

    def __len__(self) -> int:
        return len(self._heap)

    def hold(self, delivery: Delivery) -> bool:
        """Keep ``delivery`` if it is early and return True; False means start it now."""
        now = self._clock()
        wait = self._wait(delivery, now)
        if wait <= 0:
            return False
        with self._changed:
            heapq.heappush(self._heap, (now + wait, next(self._order), delivery))
            self._changed.notify_all()
        return True

    def put_all(self, deliveries: Sequence[Delivery]) -> None:
        """Keep every delivery, early or not, for ``wait_due``: each stamped with the moment
        it is due (``due_at``) and released ``lead`` before it (a due one at once)."""
        now = self._clock()
        with self._changed:
            for delivery in deliveries:
                due_at = now + max(self._wait(delivery, now), 0.0)
                stamped = dataclasses.replace(delivery, due_at=due_at)
                heapq.heappush(self._heap, (due_at - self._lead, next(self._order), stamped))
            self._changed.notify_all()

    def put_at_instant(self, deliveries: Sequence[Delivery]) -> None:
        """Keep deliveries ``put_all`` stamped, releasing each at its ``due_at``, no earlier."""
        with self._changed:
            for delivery in deliveries:
                heapq.heappush(self._heap, (delivery.due_at, next(self._order), delivery))
            self._changed.notify_all()

    def is_early(self, delivery: Delivery) -> bool:
        """True while ``delivery``, stamped by ``put_all``, is not yet due."""
        return delivery.due_at > self._clock()

    def release_due(self, limit: int | None = None) -> list[Delivery]:
        """Remove and return the deliveries whose moment has come (at most ``limit``),
        earliest first."""
        now = self._clock()
        due: list[Delivery] = []
        with self._changed:
            while self._heap and self._heap[0][0] <= now and (limit is None or len(due) < limit):
                due.append(heapq.heappop(self._heap)[2])
        return due

    def wait_due(self, limit: int) -> list[Delivery] | None:
        """Block until deliveries are released; return up to ``limit`` of them, or None
        once ``close`` was called.  Never returns one before its release moment."""
        with self._changed:
            while not self._closed:
                due = self.release_due(limit)  # the Condition's lock is reentrant
                if due:
                    return due
                until = self._heap[0][0] - self._clock() if self._heap else None
                self._changed.wait(until)
        return None

    def close(self) -> None:
        """Wake every ``wait_due`` with None; what is held stays for ``take_all``."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def seconds_to_next(self) -> float | None:
        """How long until the next release (0 if one is due), or None when empty."""
        with self._changed:
            if not self._heap:
                return None
            return max(self._heap[0][0] - self._clock(), 0.0)

    def take_all(self) -> list[Delivery]:
        """Remove and return every held delivery (lost connection, shutdown)."""
        with self._changed:
            held = [entry[2] for entry in sorted(self._heap)]
            self._heap.clear()
        return held

    def _wait(self, delivery: Delivery, now: float) -> float:
        run = delivery.run
        return min(_hold_seconds(run.scheduled_at, run.published_at, now), self._max_hold)
