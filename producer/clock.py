"""Where the scheduler gets the time from.

Every component takes a ``Clock`` instead of calling ``datetime.now`` itself, so tests can
drive the loop through hours of schedule in milliseconds.  All times are aware UTC.  This
clock decides when runs are due; the leader lease is compared on the database's clock
instead (``leader.dbclock``), so schedulers whose host clocks disagree never both lead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "utc_now"]

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime."""


def utc_now() -> datetime:
    """The system clock in UTC (the default ``Clock``)."""
    return datetime.now(UTC)
