"""CronTrigger: fires when the wall clock matches every field, APScheduler 3 style."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers.arguments import check_jitter
from dueq.shared.triggers.base import Trigger
from dueq.shared.triggers.cron.crontab import parse_crontab
from dueq.shared.triggers.cron.expressions import CompiledField, parse_field
from dueq.shared.triggers.cron.fields import FIELD_NAMES, FIELDS
from dueq.shared.triggers.cron.schedule import CronSchedule
from dueq.shared.triggers.spec import CronSpec
from dueq.shared.triggers.wallclock import next_wall_fire
from dueq.shared.triggers.zones import (
    MICROSECOND,
    as_aware,
    ceil_to_second,
    require_aware,
    resolve_zone,
    to_utc,
)

__all__ = ["CronField", "CronTrigger"]

FieldValue = int | str | None


@dataclass(frozen=True)
class CronField:
    """One field as the trigger holds it: its normalised text and whether it was given."""

    name: str
    expression: str
    is_default: bool

    def __str__(self) -> str:
        return self.expression


class CronTrigger(Trigger):
    """Fires when the wall-clock time in ``timezone`` matches all the fields.

    Arguments are APScheduler 3's.  An unset field is ``*`` when it is more significant
    than the least significant field given and its minimum when less significant
    (``CronTrigger(hour=3)`` fires daily at 03:00:00); week and day_of_week default to
    ``*``.  day_of_week counts from Monday = 0 here; crontab text (``from_crontab``)
    counts from Sunday as cron does.  ``day_or`` (set by ``from_crontab`` when both day
    fields are restricted) makes day and day_of_week match if either matches.

    DST: see ``shared.triggers.wallclock``.  Gap times fire once, moved forward; fold
    times fire once, at the first occurrence, unless every hour is allowed.
    """

    timezone: ZoneInfo
    start_date: datetime | None
    end_date: datetime | None
    day_or: bool
    fields: tuple[CronField, ...]
    _schedule: CronSchedule

    def __init__(
        self,
        year: FieldValue = None,
        month: FieldValue = None,
        day: FieldValue = None,
        week: FieldValue = None,
        day_of_week: FieldValue = None,
        hour: FieldValue = None,
        minute: FieldValue = None,
        second: FieldValue = None,
        start_date: datetime | str | None = None,
        end_date: datetime | str | None = None,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
        *,
        day_or: bool = False,
    ) -> None:
        zone = resolve_zone(timezone, start_date, end_date)
        start = None if start_date is None else as_aware(start_date, zone, "start_date")
        end = None if end_date is None else as_aware(end_date, zone, "end_date")
        if not isinstance(day_or, bool):
            raise InvalidTriggerError("day_or", day_or, "expected True or False")
        values = (year, month, day, week, day_of_week, hour, minute, second)
        given = dict(zip(FIELD_NAMES, values, strict=True))
        compiled, fields = _compile(given)
        self._freeze(
            timezone=zone,
            start_date=start,
            end_date=end,
            jitter=check_jitter(jitter),
            day_or=day_or,
            fields=fields,
            _schedule=CronSchedule.from_fields(compiled, day_or),
        )

    @classmethod
    def from_crontab(
        cls,
        expr: str,
        timezone: str | tzinfo | None = None,
        *,
        start_date: datetime | str | None = None,
        end_date: datetime | str | None = None,
        jitter: float | None = None,
    ) -> CronTrigger:
        """A trigger from crontab text, with cron's meaning (see ``cron.crontab``).

        ``"min hour day month dow"``, or six fields with a leading seconds field, or a
        macro such as ``@daily``.  Errors name the expression.
        """
        parsed = parse_crontab(expr)
        try:
            return cls(
                **parsed.fields,
                start_date=start_date,
                end_date=end_date,
                timezone=timezone,
                jitter=jitter,
                day_or=parsed.day_or,
            )
        except InvalidTriggerError as exc:
            if exc.field not in parsed.fields:
                raise
            reason = f"{exc.reason} (in crontab expression {expr!r})"
            raise InvalidTriggerError(exc.field, exc.text, reason) from None

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        require_aware(now, "now")
        if previous_fire_time is not None:
            moment = to_utc(require_aware(previous_fire_time, "previous_fire_time"))
            moment += MICROSECOND
        else:
            moment = to_utc(now)
        if self.start_date is not None:
            moment = max(moment, to_utc(self.start_date))
        found = next_wall_fire(
            self.timezone,
            ceil_to_second(moment),
            self._schedule.next_label,
            repeat_fold=self._schedule.every_hour,
        )
        if found is None or (self.end_date is not None and to_utc(found) > to_utc(self.end_date)):
            return None
        return found

    @property
    def every_hour(self) -> bool:
        """All 24 hours allowed: such a schedule fires in both passes of a DST fold."""
        return self._schedule.every_hour

    def matches(self, wall_time: datetime) -> bool:
        """Whether a wall-clock time satisfies the fields (aware times are converted)."""
        if wall_time.tzinfo is not None:
            wall_time = wall_time.astimezone(self.timezone).replace(tzinfo=None)
        return self._schedule.matches(wall_time)

    def latest_fire_time(self) -> datetime | None:
        return self.end_date

    def to_dict(self) -> dict[str, Any]:
        given = {field.name: field.expression for field in self.fields if not field.is_default}
        spec = CronSpec(
            **given,
            day_or=self.day_or,
            start_date=self.start_date,
            end_date=self.end_date,
            timezone=self.timezone.key,
            jitter=self.jitter,
        )
        return spec.model_dump(mode="json", exclude_none=True)

    def __str__(self) -> str:
        options = [f"{field.name}='{field}'" for field in self.fields if not field.is_default]
        if self.day_or:
            options.append("day_or=True")
        return f"cron[{', '.join(options)}]"

    def __repr__(self) -> str:
        options = [f"{field.name}='{field}'" for field in self.fields if not field.is_default]
        if self.day_or:
            options.append("day_or=True")
        if self.start_date is not None:
            options.append(f"start_date='{self.start_date.isoformat()}'")
        if self.end_date is not None:
            options.append(f"end_date='{self.end_date.isoformat()}'")
        if self.jitter:
            options.append(f"jitter={self.jitter}")
        options.append(f"timezone='{self.timezone.key}'")
        return f"<CronTrigger ({', '.join(options)})>"


def _compile(
    given: Mapping[str, FieldValue],
) -> tuple[dict[str, CompiledField], tuple[CronField, ...]]:
    """Parse the given fields and fill in the unset ones as APScheduler 3 does."""
    set_names = [name for name in FIELD_NAMES if given[name] is not None]
    # With no field given at all every field is "*" (APScheduler 3: fires every second).
    least_significant = FIELD_NAMES.index(set_names[-1]) if set_names else len(FIELD_NAMES)
    compiled: dict[str, CompiledField] = {}
    fields = []
    for index, kind in enumerate(FIELDS):
        value = given[kind.name]
        is_default = value is None
        if value is None:
            value = kind.default if index > least_significant else "*"
        compiled[kind.name] = parse_field(kind, value)
        fields.append(CronField(kind.name, compiled[kind.name].text, is_default))
    return compiled, tuple(fields)
