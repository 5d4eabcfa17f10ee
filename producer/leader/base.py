"""The port: one named lease that at most one scheduler holds at a time.

Only the holder publishes runs.  The lease expires unless renewed, so a dead leader is
replaced within ``duration``; the ``epoch`` rises at every change of holder and is written
into every RunRequest, and the store refuses a commit whose epoch is no longer current
(fencing), so a leader that stalled past its expiry cannot overwrite its successor's work.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta

from dueq.shared.errors import DueqError

__all__ = ["LEADER_NAME", "LeaderLease", "Lease", "LeaseLost"]

# The one lease row the scheduler loop competes for.
LEADER_NAME = "scheduler"


class LeaseLost(DueqError):
    """The lease this process held expired or passed to another scheduler."""


@dataclass(frozen=True, kw_only=True)
class Lease:
    """A lease as held by ``holder`` until ``expires_at`` (aware UTC)."""

    name: str
    holder: str
    epoch: int
    expires_at: datetime
    # Where the holder runs and its pid (see ``ProcessIdentity``); empty when unknown.
    host: str = ""
    pid: int | None = None

    def remaining(self, now: datetime) -> timedelta:
        """Time left before the lease runs out (negative once expired)."""
        return self.expires_at - now


class LeaderLease(ABC):
    """Acquire, renew and release a named lease.

    Callers pass their aware UTC ``now``.  Whether a lease has expired is decided on one
    clock shared by every holder: the SQL lease uses the database server's (see
    ``dbclock``), so hosts whose clocks disagree never both hold it.  A returned lease's
    ``expires_at`` is on the caller's clock (``now + duration``, ``now`` taken before the
    call), which is all a holder needs to tell how long it may still act.
    """

    @abstractmethod
    def acquire(self, holder: str, now: datetime, duration: timedelta) -> Lease | None:
        """Take or renew the lease for ``holder`` until ``now + duration``.

        Succeeds when the lease is free, expired, or already held by ``holder``; then
        returns the lease held.  The epoch rises by one when the holder changes and stays
        the same on renewal.  Returns None (changing nothing) while another holder's lease
        is live.
        """

    @abstractmethod
    def take_over(
        self, stale: Lease, holder: str, now: datetime, duration: timedelta
    ) -> Lease | None:
        """Take the lease from ``stale``'s holder before it expires: that holder is gone.

        Succeeds only while the stored lease is still ``stale`` (same holder and epoch);
        the epoch rises by one as at any change of holder, so the dead holder's late
        commits are fenced off.  Returns None, changing nothing, otherwise.
        """

    @abstractmethod
    def release(self, lease: Lease, now: datetime) -> None:
        """Give the lease up at once (clean shutdown), if ``lease`` is still current.

        The row keeps its epoch, so the next holder still gets a higher one.
        """

    @abstractmethod
    def current(self) -> Lease | None:
        """The lease as stored (possibly expired), or None if it was never taken."""

    def close(self) -> None:  # noqa: B027  (optional hook: most implementations hold nothing)
        """Release resources held by the implementation."""
