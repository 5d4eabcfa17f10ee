"""Which clock the leader lease is measured on: the database's, not each host's.

Every scheduler compares the lease row's expiry with "now".  If each used its own host's
clock, a host 30 s ahead would see a live leader's lease as expired and take it over, and
a leader 30 s behind would write an expiry that the others already see as past.  So the
SQL lease reads the database server's clock (``clock_timestamp()``) inside the same
transaction that compares and writes the row: one clock for every scheduler.  A host's
own clock is used only to tell, on that host, how long its own lease has left (measured
from before the database call, so the estimate errs on the short side).

SQLite is one file on one host, so its "database clock" is the caller's.  Tests that drive
a backend through hours with a fake clock use ``caller_time`` on PostgreSQL too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["LeaseClock", "caller_time", "database_time", "fence_time"]

LeaseClock = Callable[[Connection, datetime], datetime]
"""Given a connection in a transaction and the caller's ``now``: the time leases compare to."""


def database_time(conn: Connection, caller_now: datetime) -> datetime:
    """The database server's clock (PostgreSQL); the caller's ``now`` on SQLite."""
    if conn.dialect.name != "postgresql":
        return caller_now
    # clock_timestamp(), not now(): now() is frozen at the start of the transaction.
    value: datetime = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
    return value.astimezone(UTC)


def caller_time(conn: Connection, caller_now: datetime) -> datetime:
    """The caller's ``now`` as given (a test's fake clock)."""
    return caller_now


def fence_time(clock: LeaseClock, conn: Connection, caller_now: datetime) -> datetime | None:
    """The time a fence evaluated inside one SQL statement compares the lease with: None
    when that is the database's own clock, which the statement then reads itself (no round
    trip before it, and no gap between the reading and the check)."""
    return None if clock is database_time else clock(conn, caller_now)
