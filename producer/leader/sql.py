"""The lease as one row of ``dueq_leader``, changed only by compare-and-set updates.

A single conditional ``UPDATE`` both checks and takes the lease, so neither SQLite nor
PostgreSQL needs ``SELECT ... FOR UPDATE``: the database's own row (or file) write lock makes
two schedulers' attempts serial, and only one of them matches the condition.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dueq.producer.leader.base import LEADER_NAME, LeaderLease, Lease
from dueq.producer.sqlerrors import store_errors
from dueq.shared.tables import leader

__all__ = ["SqlLeaderLease", "fence_check"]


class SqlLeaderLease(LeaderLease):
    """The lease in the shared database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, name: str = LEADER_NAME) -> None:
        self._engine = engine
        self._name = name

    def acquire(self, holder: str, now: datetime, duration: timedelta) -> Lease | None:
        expires_at = now + duration
        with store_errors(self._engine), self._engine.begin() as conn:
            taken = conn.execute(
                leader.update()
                .where(
                    leader.c.name == self._name,
                    sa.or_(
                        leader.c.holder == holder,
                        leader.c.holder.is_(None),
                        leader.c.expires_at <= now,
                    ),
                )
                .values(
                    epoch=sa.case(
                        (leader.c.holder == holder, leader.c.epoch), else_=leader.c.epoch + 1
                    ),
                    holder=holder,
                    expires_at=expires_at,
                    renewed_at=now,
                )
            ).rowcount
            if taken == 1:
                return self._read(conn)
            if self._read(conn) is not None:
                return None  # held by someone else
        return self._first(holder, now, expires_at)

    def _first(self, holder: str, now: datetime, expires_at: datetime) -> Lease | None:
        """Create the row; losing the race to another scheduler's insert is not an error."""
        try:
            with store_errors(self._engine), self._engine.begin() as conn:
                conn.execute(
                    leader.insert().values(
                        name=self._name,
                        holder=holder,
                        epoch=1,
                        expires_at=expires_at,
                        renewed_at=now,
                    )
                )
        except sa.exc.IntegrityError:
            return None
        return Lease(name=self._name, holder=holder, epoch=1, expires_at=expires_at)

    def release(self, lease: Lease, now: datetime) -> None:
        with store_errors(self._engine), self._engine.begin() as conn:
            conn.execute(
                leader.update()
                .where(
                    leader.c.name == lease.name,
                    leader.c.holder == lease.holder,
                    leader.c.epoch == lease.epoch,
                )
                .values(holder=None, expires_at=now, renewed_at=now)
            )

    def current(self) -> Lease | None:
        with store_errors(self._engine), self._engine.connect() as conn:
            return self._read(conn)

    def _read(self, conn: Connection) -> Lease | None:
        row = conn.execute(sa.select(leader).where(leader.c.name == self._name)).one_or_none()
        if row is None:
            return None
        return Lease(
            name=row.name, holder=row.holder or "", epoch=row.epoch, expires_at=row.expires_at
        )


def fence_check(conn: Connection, lease: Lease, now: datetime) -> bool:
    """Inside a caller's transaction: True if ``lease`` is still current and unexpired.

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
