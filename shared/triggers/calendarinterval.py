"""CalendarIntervalTrigger: every N years/months/weeks/days at a fixed wall-clock time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers.arguments import check_count, check_jitter
from dueq.shared.triggers.base import Trigger
from dueq.shared.triggers.spec import CalendarIntervalSpec
from dueq.shared.triggers.wallclock import first_instant
from dueq.shared.triggers.zones import MICROSECOND, as_aware, require_aware, resolve_zone, to_utc

__all__ = ["CalendarIntervalTrigger"]

_LAST_YEAR = 9999


class CalendarIntervalTrigger(Trigger):
    """Fires at ``hour:minute:second`` on ``start_date``, then every interval.

    As in APScheduler, years and months are added to the previous date keeping its day
    of the month, skipping months where that day does not exist (Jan 31 + 1 month is
    Mar 31), then weeks and days are added.  ``start_date`` and ``end_date`` are dates
    (inclusive) in the trigger's zone; datetimes are converted into it first.

    DST follows the wall-clock policy: a time in a gap fires moved forward by the gap
    (APScheduler skips that date), a time in a fold fires once, at its first occurrence.
    """

    years: int
    months: int
    weeks: int
    days: int
    time: time
    start_date: date
    end_date: date | None
    timezone: ZoneInfo

    def __init__(
        self,
        *,
        years: int = 0,
        months: int = 0,
        weeks: int = 0,
        days: int = 0,
        hour: int = 0,
        minute: int = 0,
        second: int = 0,
        start_date: date | datetime | str | None = None,
        end_date: date | datetime | str | None = None,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
    ) -> None:
        steps = {"years": years, "months": months, "weeks": weeks, "days": days}
        counts = {name: check_count(name, value) for name, value in steps.items()}
        if not any(counts.values()):
            raise InvalidTriggerError("interval", counts, "must be at least one day long")
        at = time(
            check_count("hour", hour, 0, 23),
            check_count("minute", minute, 0, 59),
            check_count("second", second, 0, 59),
        )
        zone = resolve_zone(timezone, start_date)
        start = datetime.now(zone).date() if start_date is None else _as_date(start_date, zone)
        end = None if end_date is None else _as_date(end_date, zone, "end_date")
        if end is not None and end < start:
            raise InvalidTriggerError("end_date", end_date, "is before start_date")
        self._freeze(
            **counts,
            time=at,
            start_date=start,
            end_date=end,
            timezone=zone,
            jitter=check_jitter(jitter),
        )

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        require_aware(now, "now")
        if previous_fire_time is None:
            return self.next_fire_time_from(now)
        previous = require_aware(previous_fire_time, "previous_fire_time")
        return self._fire_on(self._advance(previous.astimezone(self.timezone).date()))

    def next_fire_time_from(self, moment: datetime) -> datetime | None:
        day = self._first_date_near(moment.astimezone(self.timezone).date())
        while day is not None and (self.end_date is None or day <= self.end_date):
            fire = self._fire_on(day)
            if fire is not None and to_utc(fire) >= to_utc(moment):
                return fire
            day = self._advance(day)
        return None

    def _fire_on(self, day: date | None) -> datetime | None:
        if day is None or (self.end_date is not None and day > self.end_date):
            return None
        return first_instant(datetime.combine(day, self.time), self.timezone).astimezone(
            self.timezone
        )

    def _advance(self, day: date) -> date | None:
        """The date after ``day``: add years and months (skipping bad days), then days."""
        year, month = day.year, day.month
        while True:
            month += self.months
            year += self.years + (month - 1) // 12
            month = (month - 1) % 12 + 1
            if year > _LAST_YEAR:
                return None
            try:
                found = date(year, month, day.day)
            except ValueError:
                continue  # e.g. Feb 31: try the next step, as APScheduler does
            try:
                return found + timedelta(days=self.days + 7 * self.weeks)
            except OverflowError:
                return None

    def _first_date_near(self, target: date) -> date | None:
        """A date of the sequence not after ``target`` (or the start), found without walking
        every step when the interval is only days/weeks or only years/months."""
        if target <= self.start_date:
            return self.start_date
        if not self.years and not self.months:
            period = self.days + 7 * self.weeks
            whole_periods = (target - self.start_date).days // period
            return self.start_date + timedelta(days=whole_periods * period)
        if self.weeks or self.days:
            return self.start_date  # mixed steps depend on each previous date: walk them
        return self._month_step_before(target)

    def _month_step_before(self, target: date) -> date:
        period = 12 * self.years + self.months
        start = self.start_date
        elapsed = (target.year - start.year) * 12 + target.month - start.month
        # Step back to a date that exists; at worst back to the start itself.
        for steps in range(elapsed // period, 0, -1):
            index = start.year * 12 + start.month - 1 + steps * period
            try:
                return date(index // 12, index % 12 + 1, start.day)
            except ValueError:
                continue
        return start

    def latest_fire_time(self) -> datetime | None:
        if self.end_date is None:
            return None
        next_midnight = datetime.combine(self.end_date + timedelta(days=1), time())
        return (first_instant(next_midnight, self.timezone) - MICROSECOND).astimezone(self.timezone)

    def to_dict(self) -> dict[str, Any]:
        spec = CalendarIntervalSpec(
            years=self.years,
            months=self.months,
            weeks=self.weeks,
            days=self.days,
            hour=self.time.hour,
            minute=self.time.minute,
            second=self.time.second,
            start_date=self.start_date,
            end_date=self.end_date,
            timezone=self.timezone.key,
            jitter=self.jitter,
        )
        return spec.model_dump(mode="json", exclude_none=True)

    def _steps_text(self) -> str:
        steps = {"years": self.years, "months": self.months, "weeks": self.weeks}
        steps["days"] = self.days
        return ", ".join(f"{name}={value}" for name, value in steps.items() if value)

    def __str__(self) -> str:
        return f"calendarinterval[{self._steps_text()}, time='{self.time.isoformat()}']"

    def __repr__(self) -> str:
        options = [self._steps_text(), f"time='{self.time.isoformat()}'"]
        options.append(f"start_date='{self.start_date.isoformat()}'")
        if self.end_date is not None:
            options.append(f"end_date='{self.end_date.isoformat()}'")
        if self.jitter:
            options.append(f"jitter={self.jitter}")
        options.append(f"timezone='{self.timezone.key}'")
        return f"<CalendarIntervalTrigger ({', '.join(options)})>"


def _as_date(value: object, zone: ZoneInfo, field: str = "start_date") -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return as_aware(value, zone, field).date()
