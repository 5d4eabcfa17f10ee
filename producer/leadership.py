"""This process's side of the leader lease: when to renew, and whether it may publish.

The lease is renewed every third of its duration.  Publishing needs more than a third left
(``may_publish``): a leader whose renewals fail stops publishing a full third of the lease
before it runs out, so a batch in flight ends before a standby can take over.

A standby says so once per leader it waits for, naming the holder and when it will take
over; a holder that provably died on this host (its pid is gone) is replaced at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from dueq.producer.leader.base import LeaderLease, Lease
from dueq.producer.leader.identity import ProcessIdentity

__all__ = ["Leadership"]

logger = logging.getLogger(__name__)

# Renew after this fraction of the lease, and stop publishing with less than it left.
_RENEW_FRACTION = 1 / 3


class Leadership:
    """Holds the current lease (if any) of ``holder``; used from the loop's thread only."""

    def __init__(
        self,
        port: LeaderLease,
        holder: str,
        duration: timedelta,
        *,
        on_change: Callable[[bool], None] | None = None,
        identity: ProcessIdentity | None = None,
    ) -> None:
        self._port = port
        self._identity = identity
        self._waiting_for: tuple[str, int] | None = None
        self._holder = holder
        self._duration = duration
        self._step = duration * _RENEW_FRACTION
        self._on_change = on_change
        self._lease: Lease | None = None
        self._renew_at: datetime | None = None

    @property
    def holder(self) -> str:
        """The name this process holds the lease under (its scheduler id)."""
        return self._holder

    @property
    def lease(self) -> Lease | None:
        """The lease last obtained (it may have expired since)."""
        return self._lease

    def ensure(self, now: datetime) -> Lease | None:
        """The lease, acquired or renewed if a renewal is due; None if another holds it.

        Raises ``StoreUnavailable`` if the database cannot be reached; the lease held stays
        as it is and ``may_publish`` turns False as its expiry approaches.
        """
        if self._lease is not None and self._renew_at is not None and now < self._renew_at:
            return self._lease
        lease = self._port.acquire(self._holder, now, self._duration)
        if lease is None:
            lease = self._when_refused(now)
        self._renew_at = now + self._step
        self._set(lease)
        return lease

    def _when_refused(self, now: datetime) -> Lease | None:
        """Another holder's lease is live: take over from a dead holder, else stand by."""
        held = self._port.current()
        if held is None or not held.holder:
            return None  # released in between: the next attempt takes it
        if self._identity is not None and self._identity.sees_dead(held.host, held.pid):
            logger.warning(
                "scheduler %s: the leader %s (pid %s on this host) is gone without "
                "releasing its lease; taking over now instead of waiting until %s",
                self._holder,
                held.holder,
                held.pid,
                _clock_time(held.expires_at),
            )
            return self._port.take_over(held, self._holder, now, self._duration)
        if self._waiting_for != (held.holder, held.epoch):
            self._waiting_for = (held.holder, held.epoch)
            where = f" (pid {held.pid} on {held.host.split(' ')[0]})" if held.host else ""
            logger.info(
                "scheduler %s is standing by: %s%s holds the leader lease until %s (%.0fs "
                "from now); %s takes over then unless it is renewed",
                self._holder,
                held.holder,
                where,
                _clock_time(held.expires_at),
                max(held.remaining(now).total_seconds(), 0.0),
                self._holder,
            )
        return None

    def may_publish(self, now: datetime) -> bool:
        """True if a lease is held with more than a third of it left at ``now``."""
        return self._lease is not None and self._lease.remaining(now) > self._step

    def is_leader(self, now: datetime) -> bool:
        """True while the lease held has not expired."""
        return self._lease is not None and self._lease.expires_at > now

    def next_check(self, now: datetime) -> datetime:
        """When ``ensure`` should be called again."""
        return self._renew_at if self._renew_at is not None else now

    def lost(self, reason: str) -> None:
        """Forget the lease (the store refused it); the next ``ensure`` tries again."""
        logger.warning("scheduler %s lost the leader lease: %s", self._holder, reason)
        self._renew_at = None
        self._set(None)

    def release(self, now: datetime) -> None:
        """Give the lease up (clean shutdown or pause) so a standby takes over at once."""
        lease = self._lease
        self._renew_at = None
        self._set(None)
        if lease is not None:
            self._port.release(lease, now)

    def _set(self, lease: Lease | None) -> None:
        before = self._lease
        self._lease = lease
        if (before is None) == (lease is None) and (
            before is None or lease is None or before.epoch == lease.epoch
        ):
            return
        if lease is not None:
            taking_over = f", taking over from {self._waiting_for[0]}" if self._waiting_for else ""
            self._waiting_for = None
            logger.info(
                "scheduler %s is the leader (epoch %d)%s", self._holder, lease.epoch, taking_over
            )
        else:
            logger.info("scheduler %s is no longer the leader", self._holder)
        if self._on_change is not None:
            self._on_change(lease is not None)


def _clock_time(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S UTC")
