"""Time zones and datetimes as trigger arguments.

Triggers keep one IANA zone (a ``ZoneInfo``) so that their JSON form can name it; a fixed
offset such as ``+02:00`` cannot say what the clock does at the next DST change.  Every
datetime a trigger keeps is aware and expressed in the trigger's zone.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.localzone import local_zone_name

__all__ = [
    "MICROSECOND",
    "UTC_ZONE",
    "as_aware",
    "as_zone",
    "ceil_to_second",
    "iana_zone_of",
    "require_aware",
    "resolve_zone",
    "to_utc",
    "zone_name",
]

UTC_ZONE = ZoneInfo("UTC")
# The walk continues one microsecond after a previous fire time: datetime's resolution.
MICROSECOND = timedelta(microseconds=1)
# APScheduler 3's own date-time text ("2009-7-6", "2009-07-06 08:00:00"): single-digit
# months and days, which ``datetime.fromisoformat`` refuses.
_APSCHEDULER_DATE = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{1,2}):(?P<second>\d{1,2})"
    r"(?:\.(?P<microsecond>\d{1,6}))?)?$"
)
# Etc/GMT zones exist for whole hours from -14 to +12 (their sign is POSIX's, inverted).
_ETC_GMT_HOURS = range(-14, 13)


def as_zone(value: str | tzinfo) -> ZoneInfo:
    """Turn a zone name or a tzinfo into a ``ZoneInfo``, or raise naming the text.

    Takes what APScheduler 3 takes: names, ``ZoneInfo``, pytz zones, ``datetime.timezone``
    (UTC, or a whole-hour offset, which becomes its ``Etc/GMT`` zone).
    """
    if isinstance(value, ZoneInfo):
        return value
    return _zone_from_name(zone_name(value))


def zone_name(value: str | tzinfo) -> str:
    """The IANA name of a zone given as a name, ``ZoneInfo``, pytz zone or fixed offset.

    The name is what a job stores, so every scheduler reads its times alike; an offset
    that no IANA zone has (``+05:45``) is refused rather than guessed.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, ZoneInfo):
        return value.key
    pytz_name = getattr(value, "zone", None)  # pytz zones carry their name here
    if isinstance(pytz_name, str):
        return pytz_name
    if isinstance(value, tzinfo) and value.dst(None) in (None, timedelta(0)):
        offset = value.utcoffset(None)
        if offset == timedelta(0):
            return "UTC"
        if offset is not None and offset % timedelta(hours=1) == timedelta(0):
            hours = offset // timedelta(hours=1)
            if hours in _ETC_GMT_HOURS:
                return f"Etc/GMT{-hours:+d}"
    raise InvalidTriggerError(
        "timezone",
        value,
        "expected an IANA zone name, a zoneinfo.ZoneInfo, a pytz zone or a whole-hour "
        "datetime.timezone",
    )


def _zone_from_name(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidTriggerError("timezone", name, "unknown IANA time zone") from exc


def iana_zone_of(value: object) -> ZoneInfo | None:
    """The IANA zone an aware datetime (or ISO string) carries, None when it carries none."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None
    if isinstance(value.tzinfo, ZoneInfo):
        return value.tzinfo
    pytz_name = getattr(value.tzinfo, "zone", None)
    if isinstance(pytz_name, str):  # a pytz-localized datetime names its zone
        return _zone_from_name(pytz_name)
    # A bare offset says nothing about DST, so only UTC counts as a zone here.
    return UTC_ZONE if value.utcoffset() == timedelta(0) else None


def resolve_zone(timezone: str | tzinfo | None, *anchors: object) -> ZoneInfo:
    """The trigger's zone, found as APScheduler 3 finds it.

    The argument, else the zone of the first anchor datetime (``start_date``, then
    ``end_date``) that carries one, else the local zone of this process.
    """
    if timezone is not None:
        return as_zone(timezone)
    for anchor in anchors:
        zone = iana_zone_of(anchor)
        if zone is not None:
            return zone
    return _zone_from_name(local_zone_name())


def as_aware(value: object, zone: ZoneInfo, field: str) -> datetime:
    """A datetime argument as an aware datetime in ``zone``.

    Naive datetimes and strings without an offset are wall-clock times in ``zone``; a
    wall time that falls in a DST gap is moved forward by the gap, the same rule the
    wall-clock triggers use.
    """
    if isinstance(value, str):
        value = _parse_iso(value, field)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC).astimezone(zone)
    if isinstance(value, date):
        return datetime.combine(value, time(), zone).astimezone(UTC).astimezone(zone)
    raise InvalidTriggerError(field, value, "expected a datetime, a date or an ISO 8601 string")


def _parse_iso(text: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        found = _APSCHEDULER_DATE.match(text.strip())
        if found is None:
            raise InvalidTriggerError(field, text, "not an ISO 8601 date/time") from exc

        def part(name: str) -> int:
            return int(found[name] or 0)

        micro = int((found["microsecond"] or "0").ljust(6, "0"))
        try:
            return datetime(
                part("year"), part("month"), part("day"),
                part("hour"), part("minute"), part("second"), micro,
            )  # fmt: skip
        except ValueError as bad:
            raise InvalidTriggerError(field, text, str(bad)) from bad


def require_aware(value: datetime, field: str) -> datetime:
    """Refuse naive datetimes where an instant is meant (``now``, previous fire times)."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidTriggerError(field, value, "must be a timezone-aware datetime")
    return value


def to_utc(value: datetime) -> datetime:
    """The same instant in UTC, for comparisons that must not look at wall clocks.

    Python compares two datetimes that share a tzinfo by their wall-clock fields, which
    is wrong around a DST fold; comparing in UTC never is.
    """
    return value.astimezone(UTC)


def ceil_to_second(value: datetime) -> datetime:
    """Round an instant up to a whole second (cron fires on whole seconds)."""
    if value.microsecond == 0:
        return value
    return value + timedelta(microseconds=1_000_000 - value.microsecond)
