"""Finishing and releasing claims in batches, off the slot threads.

A finished run's claim must be marked finished (its slot frees, later deliveries are
duplicates) and an unstarted run's claim released; doing each in a transaction of its own
cost a pool checkout and a commit per run.  The closer collects them and writes every
waiting one in one ``finish_many`` and one ``release_many``: it flushes as soon as
``max_batch`` are waiting or ``max_delay`` after the first one arrived (at once by default:
what arrives while one write is in flight makes the next batch).  A run id leaves
``RunningRuns`` (so its lease stops being renewed) only once its claim is written, and a
database outage is retried, keeping the ids, however long it lasts: until the claim says
finished the run must stay ours, or a reaper would run it again.

With a store that is not durable (memory) there is nothing to wait for: the closer writes
at once in the calling thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from dueq.shared.errors import StoreUnavailable
from dueq.worker.claims import ClaimStore
from dueq.worker.leases import RunningRuns

__all__ = ["ClaimCloser"]

log = logging.getLogger(__name__)

# Flush once this many are waiting: one statement of a few hundred ids stays small.
DEFAULT_MAX_BATCH = 500
# ...or this long after the first one arrived.  None by default: a finished run's slot
# must free for the fleet at once (the next run of a max_instances=1 job may already be
# on its way), and batches form anyway while the previous write is in flight.
DEFAULT_MAX_DELAY = timedelta(0)
# Backoff bounds while the database is unreachable.
_MIN_RETRY_S, _MAX_RETRY_S = 0.1, 5.0


class ClaimCloser:
    """Batches ``finish`` and ``release`` calls into one transaction each per flush."""

    def __init__(
        self,
        *,
        claims: ClaimStore,
        running: RunningRuns,
        clock: Callable[[], datetime],
        max_batch: int = DEFAULT_MAX_BATCH,
        max_delay: timedelta = DEFAULT_MAX_DELAY,
    ) -> None:
        self._claims = claims
        self._running = running
        self._clock = clock
        self._threaded = claims.durable
        self._max_batch = max_batch
        self._max_delay = max_delay.total_seconds()
        self._cond = threading.Condition()
        self._finishes: list[str] = []
        self._releases: list[str] = []
        self._since = 0.0  # monotonic time the oldest waiting id arrived
        self._stopping = False
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the flushing thread (durable stores only)."""
        if self._threaded:
            self._thread = threading.Thread(target=self._loop, name="dueq-closer", daemon=True)
            self._thread.start()

    def finish(self, run_id: str) -> None:
        """Mark ``run_id``'s claim finished (its outcome is confirmed)."""
        self._add(finishes=(run_id,))

    def release(self, run_ids: Iterable[str]) -> None:
        """Forget the claims of runs that never started."""
        self._add(releases=tuple(run_ids))

    def stop(self, timeout: float) -> None:
        """Write what is waiting (retrying up to ``timeout`` seconds), then stop."""
        with self._cond:
            self._stopping = True
            self._deadline = time.monotonic() + timeout
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        with self._cond:
            left = len(self._finishes) + len(self._releases)
        if left:
            log.error(
                "%d claim(s) could not be written before stopping (database unreachable); "
                "their leases lapse and the reaper hands their runs over",
                left,
            )

    def _add(self, finishes: tuple[str, ...] = (), releases: tuple[str, ...] = ()) -> None:
        if not self._threaded:
            self._write(list(finishes), list(releases))
            return
        with self._cond:
            if not self._finishes and not self._releases:
                self._since = time.monotonic()
            self._finishes.extend(finishes)
            self._releases.extend(releases)
            self._cond.notify()

    def _loop(self) -> None:
        backoff = _MIN_RETRY_S
        while True:
            finishes, releases, stop = self._next_batch()
            if not finishes and not releases:
                if stop:
                    return
                continue
            try:
                self._write(finishes, releases)
                backoff = _MIN_RETRY_S
                continue
            except StoreUnavailable as exc:
                log.warning("temporary database error while closing claims: %s", exc)
            except Exception:  # keep closing whatever one batch did
                log.exception("unexpected error while closing claims")
            self._put_back(finishes, releases)
            if stop and time.monotonic() >= self._deadline:
                return
            time.sleep(backoff)  # the database is away: nothing to wait on but time
            backoff = min(backoff * 2, _MAX_RETRY_S)

    def _next_batch(self) -> tuple[list[str], list[str], bool]:
        """Wait until a flush is due; take everything waiting."""
        with self._cond:
            while not self._stopping:
                waiting = len(self._finishes) + len(self._releases)
                if waiting >= self._max_batch:
                    break
                if waiting:
                    left = self._since + self._max_delay - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                else:
                    self._cond.wait()
            finishes, releases = self._finishes, self._releases
            self._finishes, self._releases = [], []
            return finishes, releases, self._stopping

    def _put_back(self, finishes: list[str], releases: list[str]) -> None:
        with self._cond:
            self._finishes[:0] = finishes
            self._releases[:0] = releases

    def _write(self, finishes: list[str], releases: list[str]) -> None:
        if finishes:
            self._claims.finish_many(finishes, self._clock())
            self._running.discard_many(finishes)
        if releases:
            self._claims.release_many(releases)
            self._running.discard_many(releases)
