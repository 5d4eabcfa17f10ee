"""Which wall-clock labels a set of cron fields allows, and the next one after a label.

This is calendar arithmetic on naive datetimes only; time zones and DST are the
business of ``shared.triggers.wallclock``.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from dueq.shared.triggers.cron.expressions import LAST, CompiledField

__all__ = ["CronSchedule"]

# Weekdays, leap years and ISO weeks repeat every 400 Gregorian years, so a year whose
# residue has already been searched in full without a match cannot match either.
_CYCLE_YEARS = 400
_MAX_DATE = date(9999, 12, 31)


@dataclass(frozen=True)
class CronSchedule:
    """The labels allowed by cron fields, all ANDed (dom OR dow when ``day_or``)."""

    years: tuple[int, ...]
    months: tuple[int, ...]
    day: CompiledField
    weeks: frozenset[int] | None  # None: every ISO week
    weekdays: frozenset[int] | None  # None: every weekday
    hours: tuple[int, ...]
    minutes: tuple[int, ...]
    seconds: tuple[int, ...]
    day_or: bool

    @classmethod
    def from_fields(cls, fields: Mapping[str, CompiledField], day_or: bool) -> CronSchedule:
        ordered = tuple(fields[name] for name in _FIELD_ORDER)
        return _schedule(ordered, day_or)

    @classmethod
    def _build(cls, fields: Mapping[str, CompiledField], day_or: bool) -> CronSchedule:
        week, weekday = fields["week"].values, fields["day_of_week"].values
        return cls(
            years=tuple(sorted(fields["year"].values)),
            months=tuple(sorted(fields["month"].values)),
            day=fields["day"],
            weeks=None if len(week) == 53 else week,
            weekdays=None if len(weekday) == 7 else weekday,
            hours=tuple(sorted(fields["hour"].values)),
            minutes=tuple(sorted(fields["minute"].values)),
            seconds=tuple(sorted(fields["second"].values)),
            day_or=day_or,
        )

    @property
    def every_hour(self) -> bool:
        """All 24 hours allowed: the schedule keeps an absolute cadence through a fold."""
        return len(self.hours) == 24

    def matches(self, label: datetime) -> bool:
        """Whether a naive wall-clock time is one of the schedule's labels."""
        return (
            label.microsecond == 0
            and _first_at_or_after(self.years, label.year) == label.year
            and label.month in self.months
            and label.hour in self.hours
            and label.minute in self.minutes
            and label.second in self.seconds
            and self.matches_date(label.date())
        )

    def matches_date(self, day: date) -> bool:
        """Whether a date passes the week, day and day_of_week fields."""
        return self._matches_date(day, calendar.monthrange(day.year, day.month)[1])

    def _matches_date(self, day: date, month_length: int) -> bool:
        if self.weeks is not None and day.isocalendar().week not in self.weeks:
            return False
        dom = self._day_of_month_matches(day, month_length)
        dow = self.weekdays is None or day.weekday() in self.weekdays
        return (dom or dow) if self.day_or else (dom and dow)

    def _day_of_month_matches(self, day: date, month_length: int) -> bool:
        if day.day in self.day.values:
            return True
        if self.day.last_day and day.day == month_length:
            return True
        weekday = day.weekday()
        nth = (day.day - 1) // 7 + 1
        is_last = day.day + 7 > month_length
        return any(
            wd == weekday and (pos == nth or (pos == LAST and is_last))
            for pos, wd in self.day.positions
        )

    def next_label(self, start: datetime) -> datetime | None:
        """The first label at or after ``start`` (rounded up to a second), or None."""
        if start.microsecond:
            start = start.replace(microsecond=0) + timedelta(seconds=1)
        day: date | None = start.date()
        after = start.time()
        while day is not None:
            day = self._next_date(day)
            if day is None:
                return None
            found = self._first_time(after if day == start.date() else time())
            if found is not None:
                return datetime.combine(day, found)
            day = None if day == _MAX_DATE else day + timedelta(days=1)
        return None

    def _first_time(self, after: time) -> time | None:
        """The first allowed time of day at or after ``after``."""
        hours, minutes, seconds = self.hours, self.minutes, self.seconds
        h = _first_at_or_after(hours, after.hour)
        if h is None:
            return None
        if h > after.hour:
            return time(h, minutes[0], seconds[0])
        m = _first_at_or_after(minutes, after.minute)
        if m is not None and m > after.minute:
            return time(h, m, seconds[0])
        if m is not None:
            s = _first_at_or_after(seconds, after.second)
            if s is not None:
                return time(h, m, s)
            m = _first_at_or_after(minutes, after.minute + 1)
            if m is not None:
                return time(h, m, seconds[0])
        h = _first_at_or_after(hours, after.hour + 1)
        return None if h is None else time(h, minutes[0], seconds[0])

    def _next_date(self, day: date) -> date | None:
        """The first date at or after ``day`` that passes every date field."""
        barren: set[int] = set()  # year residues searched in full without a match
        while len(barren) < _CYCLE_YEARS:
            year = _first_at_or_after(self.years, day.year)
            if year is None:
                return None
            if year != day.year:
                day = date(year, 1, 1)
            whole_year = day == date(year, 1, 1)
            if whole_year and year % _CYCLE_YEARS in barren:
                found = None
            else:
                found = self._next_date_in_year(day)
            if found is not None:
                return found
            if whole_year:
                barren.add(year % _CYCLE_YEARS)
            if year == _MAX_DATE.year:
                return None
            day = date(year + 1, 1, 1)
        return None

    def _next_date_in_year(self, day: date) -> date | None:
        for month in self.months:
            if month < day.month:
                continue
            first = day.day if month == day.month else 1
            month_length = calendar.monthrange(day.year, month)[1]
            for dom in range(first, month_length + 1):
                candidate = date(day.year, month, dom)
                if self._matches_date(candidate, month_length):
                    return candidate
        return None


_FIELD_ORDER = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")


@lru_cache(maxsize=1024)
def _schedule(fields: tuple[CompiledField, ...], day_or: bool) -> CronSchedule:
    """Schedules are immutable; the same fields give the same one (see parse_field)."""
    return CronSchedule._build(dict(zip(_FIELD_ORDER, fields, strict=True)), day_or)


def _first_at_or_after(values: Sequence[int], value: int) -> int | None:
    index = bisect_left(values, value)
    return values[index] if index < len(values) else None
