"""Pending retries in this process: for the memory backend and unit tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from dueq.producer.leader.base import Lease, LeaseLost
from dueq.producer.leader.memory import MemoryLeaderLease
from dueq.producer.retrystore.base import PendingRetry, RetryStore

__all__ = ["MemoryRetryStore"]


class MemoryRetryStore(RetryStore):
    """Retries in a dict; every run id ever scheduled is remembered for idempotence."""

    def __init__(self, leader: MemoryLeaderLease | None = None) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, PendingRetry] = {}
        self._seen: set[str] = set()
        self._leader = leader

    def schedule(self, retries: Sequence[PendingRetry], now: datetime) -> int:
        with self._lock:
            fresh = [r for r in retries if r.run_id not in self._seen]
            for retry in fresh:
                self._seen.add(retry.run_id)
                self._pending[retry.run_id] = retry
            return len(fresh)

    def due(self, now: datetime, limit: int) -> list[PendingRetry]:
        with self._lock:
            ready = sorted(
                (r for r in self._pending.values() if r.due_at <= now), key=lambda r: r.due_at
            )
            return ready[:limit]

    def next_due(self) -> datetime | None:
        with self._lock:
            return min((r.due_at for r in self._pending.values()), default=None)

    def published(self, run_ids: Sequence[str], *, lease: Lease | None, now: datetime) -> None:
        with self._lock:
            leader = self._leader
            if lease is not None and leader is not None and not leader.is_current(lease, now):
                raise LeaseLost(f"lease epoch {lease.epoch} is no longer current")
            for run_id in run_ids:
                self._pending.pop(run_id, None)
