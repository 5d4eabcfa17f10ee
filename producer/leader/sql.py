"""The lease as one row of ``dueq_leader``, changed only by compare-and-set updates.

A single conditional ``UPDATE`` both checks and takes the lease, so neither SQLite nor
PostgreSQL needs ``SELECT ... FOR UPDATE``: the database's own row (or file) write lock makes
two schedulers' attempts serial, and only one of them matches the condition.  Expiries are
compared on the database's clock (``dbclock``), so hosts whose clocks disagree still agree
on who leads.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dueq.producer.leader.base import LEADER_NAME, LeaderLease, Lease
from dueq.producer.leader.dbclock import LeaseClock, database_time
from dueq.producer.leader.identity import ProcessIdentity
from dueq.producer.sqlerrors import store_errors
from dueq.shared.tables import leader

__all__ = ["SqlLeaderLease", "fence_check", "limit_frozen_transaction"]

# Shortest limit on a lease-holding transaction's idle time (see limit_frozen_transaction).
_MIN_FROZEN_LIMIT = timedelta(seconds=1)


class SqlLeaderLease(LeaderLease):
    """The lease in the shared database (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        name: str = LEADER_NAME,
        *,
        clock: LeaseClock = database_time,
        identity: ProcessIdentity | None = None,
    ) -> None:
        self._engine = engine
        self._name = name
        self._clock = clock
        # Written beside the holder so a standby on the same host can see it die.
        self._whereabouts = (
            {"holder_host": identity.host, "holder_pid": identity.pid} if identity else {}
        )

    def acquire(self, holder: str, now: datetime, duration: timedelta) -> Lease | None:
        """See the port; the row's expiry is on the database's clock, the result's on ``now``'s."""
        with store_errors(self._engine), self._engine.begin() as conn:
            limit_frozen_transaction(conn, duration)
            reference = self._clock(conn, now)
            expires_at = reference + duration
            taken = conn.execute(
                leader.update()
                .where(
                    leader.c.name == self._name,
                    sa.or_(
                        leader.c.holder == holder,
                        leader.c.holder.is_(None),
                        leader.c.expires_at <= reference,
                    ),
                )
                .values(
                    epoch=sa.case(
                        (leader.c.holder == holder, leader.c.epoch), else_=leader.c.epoch + 1
                    ),
                    holder=holder,
                    expires_at=expires_at,
                    renewed_at=reference,
                    **self._whereabouts,
                )
            ).rowcount
            held = self._read(conn)
        if taken == 1 and held is not None:
            return _on_caller_clock(held, now + duration)
        if held is not None:
            return None  # held by someone else
        return self._first(holder, now, duration)

    def _first(self, holder: str, now: datetime, duration: timedelta) -> Lease | None:
        """Create the row; losing the race to another scheduler's insert is not an error."""
        try:
            with store_errors(self._engine), self._engine.begin() as conn:
                reference = self._clock(conn, now)
                conn.execute(
                    leader.insert().values(
                        name=self._name,
                        holder=holder,
                        epoch=1,
                        expires_at=reference + duration,
                        renewed_at=reference,
                        **self._whereabouts,
                    )
                )
        except sa.exc.IntegrityError:
            return None
        return Lease(name=self._name, holder=holder, epoch=1, expires_at=now + duration)

    def take_over(
        self, stale: Lease, holder: str, now: datetime, duration: timedelta
    ) -> Lease | None:
        with store_errors(self._engine), self._engine.begin() as conn:
            reference = self._clock(conn, now)
            taken = conn.execute(
                leader.update()
                .where(
                    leader.c.name == self._name,
                    leader.c.holder == stale.holder,
                    leader.c.epoch == stale.epoch,
                )
                .values(
                    epoch=leader.c.epoch + 1,
                    holder=holder,
                    expires_at=reference + duration,
                    renewed_at=reference,
                    **self._whereabouts,
                )
            ).rowcount
            held = self._read(conn) if taken == 1 else None
        return None if held is None else _on_caller_clock(held, now + duration)

    def release(self, lease: Lease, now: datetime) -> None:
        with store_errors(self._engine), self._engine.begin() as conn:
            reference = self._clock(conn, now)
            conn.execute(
                leader.update()
                .where(
                    leader.c.name == lease.name,
                    leader.c.holder == lease.holder,
                    leader.c.epoch == lease.epoch,
                )
                .values(holder=None, expires_at=reference, renewed_at=reference)
            )

    def current(self) -> Lease | None:
        with store_errors(self._engine), self._engine.connect() as conn:
            return self._read(conn)

    def _read(self, conn: Connection) -> Lease | None:
        row = conn.execute(sa.select(leader).where(leader.c.name == self._name)).one_or_none()
        if row is None:
            return None
        return Lease(
            name=row.name,
            holder=row.holder or "",
            epoch=row.epoch,
            expires_at=row.expires_at,
            host=row.holder_host or "",
            pid=row.holder_pid,
        )


def _on_caller_clock(held: Lease, expires_at: datetime) -> Lease:
    """The lease as its holder sees it: expiring ``expires_at`` on the holder's clock."""
    return dataclasses.replace(held, expires_at=expires_at)  # host and pid kept


def limit_frozen_transaction(conn: Connection, limit: timedelta) -> None:
    """On PostgreSQL, end this session if it sits idle in its transaction beyond ``limit``.

    The lease row's write lock is held from the first UPDATE to the commit.  A scheduler
    frozen in between (SIGSTOP, a VM pause, a debugger) keeps its socket open, so without
    this its lock would block every standby's takeover for as long as it stays frozen.
    """
    if conn.dialect.name != "postgresql":
        return
    millis = int(max(limit, _MIN_FROZEN_LIMIT).total_seconds() * 1000)
    conn.execute(sa.text(f"SET LOCAL idle_in_transaction_session_timeout = {millis}"))


def fence_check(conn: Connection, lease: Lease, now: datetime) -> bool:
    """Inside a caller's transaction: True if ``lease`` is still current and unexpired.

    ``now`` is on the lease's clock (``LeaseClock``), like the row's expiry.

    Written as a no-op ``UPDATE`` so it takes the row's write lock: a standby's takeover
    waits until the caller's transaction ends, so the check stays true until the commit.
    """
    matched = conn.execute(
        leader.update()
        .where(
            leader.c.name == lease.name,
            leader.c.holder == lease.holder,
            leader.c.epoch == lease.epoch,
            leader.c.expires_at > now,
        )
        .values(renewed_at=leader.c.renewed_at)
    ).rowcount
    return bool(matched == 1)
