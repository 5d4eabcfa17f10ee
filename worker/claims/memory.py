"""Claims held in this process: max_instances and dedupe per worker process.

Used when a worker has no database URL (and in tests).  Finished run ids are remembered
in a bounded LRU, so a duplicate delivered soon after is still recognised while memory
stays flat however long the worker runs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dueq.shared.protocol import RunRequest, encode
from dueq.worker.claims.base import (
    Claimed,
    ClaimResult,
    ClaimStatus,
    ClaimStore,
    Duplicate,
    Expired,
    Full,
)

__all__ = ["DEFAULT_REMEMBERED_RUNS", "MemoryClaimStore"]

# Finished run ids kept for dedupe. Duplicates come from a scheduler republishing after a
# crash or the broker redelivering, within seconds to minutes; 100k ids (~10 MB) covers
# minutes even at a thousand runs per second.
DEFAULT_REMEMBERED_RUNS = 100_000


@dataclass(slots=True)
class _Claim:
    run: RunRequest
    worker_id: str
    status: ClaimStatus
    lease_expires_at: datetime
    finished_at: datetime | None = None
    cancelled_by: str | None = None


class MemoryClaimStore(ClaimStore):
    """A ``ClaimStore`` in a dict behind one lock."""

    durable = False

    def __init__(self, *, remembered_runs: int = DEFAULT_REMEMBERED_RUNS) -> None:
        self._lock = threading.Lock()
        self._claims: dict[str, _Claim] = {}
        self._running: dict[str, set[str]] = {}  # job_id -> run ids with status running
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._remembered = remembered_runs

    def lookup_many(self, run_ids: Sequence[str], now: datetime) -> dict[str, Duplicate]:
        with self._lock:
            found = {run_id: self._duplicate(self._claims.get(run_id), now) for run_id in run_ids}
        return {run_id: duplicate for run_id, duplicate in found.items() if duplicate is not None}

    @staticmethod
    def _duplicate(claim: _Claim | None, now: datetime) -> Duplicate | None:
        if claim is None or claim.status is ClaimStatus.ABANDONED:
            return None
        if claim.status is ClaimStatus.FINISHED or claim.lease_expires_at > now:
            return Duplicate(claim.status)
        return None

    def claim_many(
        self, runs: Sequence[RunRequest], worker_id: str, now: datetime, lease: timedelta
    ) -> list[ClaimResult]:
        with self._lock:
            return [self._claim(run, worker_id, now, lease) for run in runs]

    def _claim(
        self, run: RunRequest, worker_id: str, now: datetime, lease: timedelta
    ) -> ClaimResult:
        previous = self._claims.get(run.run_id)
        duplicate = self._duplicate(previous, now)
        if duplicate is not None:
            return duplicate
        running = self._live_count(run.job_id, now, exclude=run.run_id)
        if running >= run.max_instances:
            return Full(running)
        self._claims[run.run_id] = _Claim(run, worker_id, ClaimStatus.RUNNING, now + lease)
        self._running.setdefault(run.job_id, set()).add(run.run_id)
        return Claimed(taken_over=previous is not None)

    def _live_count(self, job_id: str, now: datetime, *, exclude: str) -> int:
        ids = self._running.get(job_id, ())
        return sum(1 for i in ids if i != exclude and self._claims[i].lease_expires_at > now)

    def renew(
        self, worker_id: str, run_ids: Sequence[str], until: datetime
    ) -> dict[str, str | None]:
        renewed: dict[str, str | None] = {}
        with self._lock:
            for run_id in run_ids:
                claim = self._claims.get(run_id)
                mine = claim is not None and claim.worker_id == worker_id
                if mine and claim is not None and claim.status is ClaimStatus.RUNNING:
                    claim.lease_expires_at = until
                    renewed[run_id] = claim.cancelled_by
        return renewed

    def request_cancel(self, job_id: str, by_run_id: str, now: datetime) -> int:
        asked = 0
        with self._lock:
            for run_id in self._running.get(job_id, ()):
                claim = self._claims[run_id]
                live = claim.lease_expires_at > now and claim.cancelled_by is None
                if run_id != by_run_id and live:
                    claim.cancelled_by = by_run_id
                    asked += 1
        return asked

    def finish_many(self, run_ids: Sequence[str], now: datetime) -> None:
        with self._lock:
            for run_id in run_ids:
                self._finish(run_id, now)

    def _finish(self, run_id: str, now: datetime) -> None:
        claim = self._claims.get(run_id)
        if claim is None:
            return
        self._unrun(claim)
        claim.status, claim.finished_at = ClaimStatus.FINISHED, now
        self._finished[run_id] = None
        while len(self._finished) > self._remembered:
            oldest, _ = self._finished.popitem(last=False)
            del self._claims[oldest]

    def _unrun(self, claim: _Claim) -> None:
        ids = self._running.get(claim.run.job_id)
        if ids is not None:
            ids.discard(claim.run.run_id)
            if not ids:
                del self._running[claim.run.job_id]

    def release_many(self, run_ids: Sequence[str]) -> None:
        with self._lock:
            for run_id in run_ids:
                claim = self._claims.get(run_id)
                if claim is not None and claim.status is ClaimStatus.RUNNING:
                    del self._claims[run_id]
                    self._unrun(claim)

    def abandon_expired(self, now: datetime, lease: timedelta) -> list[Expired]:
        expired = []
        with self._lock:
            for run_id, claim in self._claims.items():
                stale = claim.status is not ClaimStatus.FINISHED
                if stale and claim.lease_expires_at <= now:
                    self._unrun(claim)
                    claim.status, claim.lease_expires_at = ClaimStatus.ABANDONED, now + lease
                    payload = encode(claim.run).decode()
                    expired.append(Expired(run_id, claim.run.job_id, claim.worker_id, payload))
        return expired

    def purge_finished(self, before: datetime) -> int:
        with self._lock:
            old = [
                run_id
                for run_id in self._finished
                if (at := self._claims[run_id].finished_at) is not None and at < before
            ]
            for run_id in old:
                del self._finished[run_id], self._claims[run_id]
        return len(old)
