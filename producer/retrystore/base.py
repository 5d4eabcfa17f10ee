"""The retry store port: the next attempts of failed runs, durable until published.

The events consumer adds a retry when a worker reports a failure its run's policy covers;
the leader's loop publishes each retry once its backoff has passed and then removes it,
in a transaction fenced by the lease, exactly like a batch of due jobs.  A retry's run id
is deterministic (job, scheduled time, attempt), so scheduling it twice (an event
redelivered) or publishing it twice (a crash between publish and remove) still runs it
once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dueq.producer.leader.base import Lease
from dueq.shared.protocol import RunRequest

__all__ = ["PendingRetry", "RetryStore"]


@dataclass(frozen=True, kw_only=True)
class PendingRetry:
    """The next attempt of a failed run, to publish at ``due_at``."""

    request: RunRequest
    due_at: datetime

    @property
    def run_id(self) -> str:
        """The attempt's own run id."""
        return self.request.run_id


class RetryStore(ABC):
    """Pending retries; raises ``StoreUnavailable`` when the database is away (transient)."""

    @abstractmethod
    def schedule(self, retries: Sequence[PendingRetry], now: datetime) -> int:
        """Keep ``retries`` until published; returns how many were new.

        A retry whose run id was ever scheduled before is ignored (idempotent), even if
        it has been published and removed since: a redelivered failure event must not
        bring an attempt back.  All or nothing.
        """

    @abstractmethod
    def due(self, now: datetime, limit: int) -> list[PendingRetry]:
        """Up to ``limit`` retries whose ``due_at`` has passed, oldest first."""

    @abstractmethod
    def next_due(self) -> datetime | None:
        """The earliest ``due_at`` of any pending retry, or None."""

    @abstractmethod
    def published(self, run_ids: Sequence[str], *, lease: Lease | None, now: datetime) -> None:
        """Remove published retries, in one transaction that checks ``lease`` is current.

        Raises ``LeaseLost`` (nothing removed) if another scheduler leads now; it will
        publish them again with the same run ids.
        """
