"""Rebuilding triggers from their JSON form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers.base import Trigger
from dueq.shared.triggers.calendarinterval import CalendarIntervalTrigger
from dueq.shared.triggers.combining import AndTrigger, OrTrigger
from dueq.shared.triggers.cron import CronTrigger
from dueq.shared.triggers.date import DateTrigger
from dueq.shared.triggers.interval import IntervalTrigger
from dueq.shared.triggers.spec import (
    AndSpec,
    CalendarIntervalSpec,
    CronSpec,
    DateSpec,
    IntervalSpec,
    OrSpec,
    trigger_spec_adapter,
)

__all__ = ["trigger_from_dict", "trigger_from_spec"]

AnySpec = CronSpec | IntervalSpec | DateSpec | CalendarIntervalSpec | AndSpec | OrSpec


def trigger_from_dict(data: Mapping[str, Any]) -> Trigger:
    """The trigger a ``to_dict()`` result describes; bad data raises InvalidTriggerError."""
    if not isinstance(data, Mapping):
        raise InvalidTriggerError("trigger", data, "expected a JSON object with a 'type' key")
    try:
        spec = trigger_spec_adapter.validate_python(dict(data))
    except ValidationError as exc:
        raise _invalid(exc) from exc
    return trigger_from_spec(spec)


def _invalid(exc: ValidationError) -> InvalidTriggerError:
    """The first validation problem, named by its path (e.g. ``triggers.0.cron.minute``)."""
    error = exc.errors()[0]
    path = [str(part) for part in error["loc"]]
    text = error.get("input")
    if error["type"] in _TAG_ERRORS:
        # The union reports a missing or unknown "type" at the object holding it.
        path.append("type")
        text = text.get("type") if isinstance(text, Mapping) else text
    return InvalidTriggerError(".".join(path), text, error["msg"])


def trigger_from_spec(spec: AnySpec) -> Trigger:
    """Build the trigger a validated spec model describes."""
    match spec:
        case CronSpec():
            return CronTrigger(
                **spec.model_dump(include=_CRON_FIELDS),
                day_or=spec.day_or,
                start_date=spec.start_date,
                end_date=spec.end_date,
                timezone=spec.timezone,
                jitter=spec.jitter,
            )
        case IntervalSpec():
            return IntervalTrigger(**spec.model_dump(exclude={"type"}))
        case DateSpec():
            return DateTrigger(run_date=spec.run_date, timezone=spec.timezone)
        case CalendarIntervalSpec():
            return CalendarIntervalTrigger(**spec.model_dump(exclude={"type"}))
        case AndSpec():
            return AndTrigger([trigger_from_spec(s) for s in spec.triggers], jitter=spec.jitter)
        case OrSpec():
            return OrTrigger([trigger_from_spec(s) for s in spec.triggers], jitter=spec.jitter)


_TAG_ERRORS = {"union_tag_invalid", "union_tag_not_found"}
_CRON_FIELDS = {"year", "month", "day", "week", "day_of_week", "hour", "minute", "second"}
