"""History retention: the leader deletes runs older than ``history_retention``, in batches.

At 1,000 runs/s ``dueq_runs`` gains 86 million rows a day; without a bound every
recording and every ``dueq runs`` pays for them.  The leader deletes the oldest runs a
bounded batch per transaction (``RunHistory.purge``, oldest first through the
``scheduled_at`` index), so no lock is held for long and the events consumer's inserts,
which touch only new rows, never wait behind a large delete.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from dueq.producer.clock import Clock
from dueq.producer.history import RunHistory
from dueq.shared.errors import StoreUnavailable

__all__ = ["BATCH_ROWS", "CHECK_EVERY_S", "HistoryRetention"]

logger = logging.getLogger(__name__)

# Rows per delete: 13-33 ms of PostgreSQL work at 1M rows on a loaded 2-core machine, short enough
# that recording never notices, large enough to delete ~80k rows/s (80x the 1,000 runs/s
# the scheduler is measured at), so a backlog of days clears in minutes.
BATCH_ROWS = 5_000
# How often the leader looks for expired history.  Retention is days; a minute's slack
# is nothing, and an idle check costs one indexed query.
CHECK_EVERY_S = 60.0
# Pause between two batches of one sweep, as long as the batch took (at least this), so a
# long sweep uses at most half the database's time and leaves the rest, and the GIL, to the
# loop and the events consumer: with 10M rows, a 10 ms pause let a day's sweep (1.25M rows,
# 8.8 s) slow recording 1.6x; a sweep at half speed still deletes ~70k rows/s.
_MIN_BATCH_PAUSE_S = 0.01


class HistoryRetention:
    """Deletes expired run history; ``run`` is the body of the leader's retention thread."""

    def __init__(
        self,
        history: RunHistory,
        retention: timedelta,
        *,
        clock: Clock,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self._history = history
        self._retention = retention
        self._clock = clock
        self._batch_rows = batch_rows

    def sweep(self, stopping: threading.Event) -> int:
        """Delete every run scheduled before now - retention, a batch at a time; count.

        Stops early when ``stopping`` is set; the next sweep carries on where this one
        stopped.  Raises ``StoreUnavailable`` (the caller tries again later).
        """
        before = self._clock() - self._retention
        total = 0
        while not stopping.is_set():
            begun = time.monotonic()
            deleted = self._history.purge(before, self._batch_rows)
            total += deleted
            if deleted < self._batch_rows:
                break
            stopping.wait(max(time.monotonic() - begun, _MIN_BATCH_PAUSE_S))
        if total:
            logger.info("deleted %d run(s) of history scheduled before %s", total, before)
        return total

    def run(
        self,
        stopping: threading.Event,
        leading: Callable[[], bool],
        *,
        every: float = CHECK_EVERY_S,
    ) -> None:
        """Sweep every ``every`` seconds while this process leads, until ``stopping``."""
        while not stopping.wait(every):
            if not leading():
                continue
            try:
                self.sweep(stopping)
            except StoreUnavailable as exc:
                logger.warning("history retention skipped, database unavailable: %s", exc)
            except Exception:  # a bug must not end retention for the life of the process
                logger.exception("history retention failed; trying again later")
