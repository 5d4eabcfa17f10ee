"""In-process lease: for unit tests and a scheduler that runs on a memory store."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from dueq.producer.leader.base import LEADER_NAME, LeaderLease, Lease

__all__ = ["MemoryLeaderLease"]


class MemoryLeaderLease(LeaderLease):
    """The lease kept in a variable behind a lock."""

    def __init__(self, name: str = LEADER_NAME) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._lease: Lease | None = None

    def acquire(self, holder: str, now: datetime, duration: timedelta) -> Lease | None:
        with self._lock:
            held = self._lease
            if held is None:
                epoch = 1
            elif held.holder == holder:
                epoch = held.epoch
            elif held.expires_at <= now or not held.holder:
                epoch = held.epoch + 1
            else:
                return None
            self._lease = Lease(
                name=self._name, holder=holder, epoch=epoch, expires_at=now + duration
            )
            return self._lease

    def take_over(
        self, stale: Lease, holder: str, now: datetime, duration: timedelta
    ) -> Lease | None:
        with self._lock:
            held = self._lease
            if held is None or (held.holder, held.epoch) != (stale.holder, stale.epoch):
                return None
            self._lease = Lease(
                name=self._name, holder=holder, epoch=held.epoch + 1, expires_at=now + duration
            )
            return self._lease

    def release(self, lease: Lease, now: datetime) -> None:
        with self._lock:
            if self._lease is not None and self._lease == lease:
                self._lease = Lease(name=self._name, holder="", epoch=lease.epoch, expires_at=now)

    def current(self) -> Lease | None:
        with self._lock:
            return self._lease

    def is_current(self, lease: Lease, now: datetime) -> bool:
        """Fencing check for the memory job store: ``lease`` is held and unexpired."""
        with self._lock:
            held = self._lease
            return (
                held is not None
                and held.holder == lease.holder
                and held.epoch == lease.epoch
                and held.expires_at > now
            )
