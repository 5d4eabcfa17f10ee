"""Time zones and datetimes as trigger arguments.

Triggers keep one IANA zone (a ``ZoneInfo``) so that their JSON form can name it; a fixed
offset such as ``+02:00`` cannot say what the clock does at the next DST change.  Every
datetime a trigger keeps is aware and expressed in the trigger's zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dueq.shared.errors import InvalidTriggerError

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
]

UTC_ZONE = ZoneInfo("UTC")
# The walk continues one microsecond after a previous fire time: datetime's resolution.
MICROSECOND = timedelta(microseconds=1)


def as_zone(value: str | tzinfo) -> ZoneInfo:
    """Turn a zone name or tzinfo into a ``ZoneInfo``, or raise naming the text."""
    if isinstance(value, ZoneInfo):
        return value
    if isinstance(value, str):
        return _zone_from_name(value)
    if isinstance(value, tzinfo) and _is_utc(value):
        return UTC_ZONE
    raise InvalidTriggerError(
        "timezone", value, "expected an IANA zone name or a zoneinfo.ZoneInfo (or UTC)"
    )


def _zone_from_name(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidTriggerError("timezone", name, "unknown IANA time zone") from exc


def _is_utc(value: tzinfo) -> bool:
    # timezone.utc and timezone(timedelta(0)) are UTC; any other fixed offset is not a zone.
    return value.utcoffset(None) == timedelta(0) and value.dst(None) in (None, timedelta(0))


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
    return UTC_ZONE if value.utcoffset() == timedelta(0) else None


def resolve_zone(timezone: str | tzinfo | None, anchor: object = None) -> ZoneInfo:
    """The trigger's zone: the argument, else the anchor datetime's IANA zone, else UTC."""
    if timezone is not None:
        return as_zone(timezone)
    return iana_zone_of(anchor) or UTC_ZONE


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
        raise InvalidTriggerError(field, text, "not an ISO 8601 date/time") from exc


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
