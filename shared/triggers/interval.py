"""IntervalTrigger: fires every fixed amount of elapsed time."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers.arguments import check_jitter, check_quantity
from dueq.shared.triggers.base import Trigger
from dueq.shared.triggers.spec import IntervalSpec
from dueq.shared.triggers.zones import as_aware, require_aware, resolve_zone, to_utc

__all__ = ["IntervalTrigger"]


class IntervalTrigger(Trigger):
    """Fires at ``start_date + k * interval``, counted in real elapsed time.

    Elapsed time, as in APScheduler 3, makes it immune to DST: ``hours=1`` stays 3600 s
    apart through both changes, and ``days=1`` moves by an hour on the wall clock when
    DST changes (use CronTrigger or CalendarIntervalTrigger for a fixed wall time).
    ``start_date`` defaults to one interval after construction, as in APScheduler 3;
    the value is kept, so it survives a round-trip through JSON.
    """

    interval: timedelta
    start_date: datetime
    end_date: datetime | None
    timezone: ZoneInfo

    def __init__(
        self,
        weeks: float = 0,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
        start_date: datetime | str | None = None,
        end_date: datetime | str | None = None,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
    ) -> None:
        interval = _interval(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
        zone = resolve_zone(timezone, start_date, end_date)
        if start_date is None:
            start = datetime.now(zone) + interval
        else:
            start = as_aware(start_date, zone, "start_date")
        end = None if end_date is None else as_aware(end_date, zone, "end_date")
        self._freeze(
            interval=interval,
            start_date=start,
            end_date=end,
            timezone=zone,
            jitter=check_jitter(jitter),
        )

    @property
    def interval_length(self) -> float:
        """The interval in seconds (APScheduler 3's attribute)."""
        return self.interval.total_seconds()

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        require_aware(now, "now")
        if previous_fire_time is not None:
            found = to_utc(require_aware(previous_fire_time, "previous_fire_time")) + self.interval
        else:
            start, moment = to_utc(self.start_date), to_utc(now)
            # The smallest start + k*interval >= now; -(a // b) rounds the quotient up.
            steps = max(0, -((start - moment) // self.interval))
            found = start + steps * self.interval
        if self.end_date is not None and found > to_utc(self.end_date):
            return None
        return found.astimezone(self.timezone)

    def latest_fire_time(self) -> datetime | None:
        return self.end_date

    def to_dict(self) -> dict[str, Any]:
        spec = IntervalSpec(
            **_parts(self.interval),
            start_date=self.start_date,
            end_date=self.end_date,
            timezone=self.timezone.key,
            jitter=self.jitter,
        )
        return spec.model_dump(mode="json", exclude_none=True)

    def __str__(self) -> str:
        return f"interval[{self.interval}]"

    def __repr__(self) -> str:
        options = [f"interval={self.interval!r}", f"start_date='{self.start_date.isoformat()}'"]
        if self.end_date is not None:
            options.append(f"end_date='{self.end_date.isoformat()}'")
        if self.jitter:
            options.append(f"jitter={self.jitter}")
        options.append(f"timezone='{self.timezone.key}'")
        return f"<IntervalTrigger ({', '.join(options)})>"


def _interval(**parts: object) -> timedelta:
    amounts = {name: check_quantity(name, value) for name, value in parts.items()}
    try:
        interval = timedelta(**amounts)
    except OverflowError:
        raise InvalidTriggerError("interval", amounts, "is too long") from None
    if interval <= timedelta(0):
        # APScheduler 3 quietly turns a zero interval into one second; we refuse it.
        raise InvalidTriggerError("interval", amounts, "must be longer than zero")
    return interval


def _parts(interval: timedelta) -> dict[str, float]:
    """An interval as weeks, days, hours, minutes and seconds, for people reading JSON."""
    hours, rest = divmod(interval.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    exact = seconds + interval.microseconds / 1_000_000 if interval.microseconds else seconds
    weeks, days = divmod(interval.days, 7)
    return {"weeks": weeks, "days": days, "hours": hours, "minutes": minutes, "seconds": exact}
