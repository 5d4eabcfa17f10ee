"""Rebuilding triggers from their JSON form.

A stored trigger names its ``type``, so only that trigger's spec model validates it and
only its class is imported: ``dueq jobs list`` over cron jobs loads neither the calendar
arithmetic nor the combining triggers.  JSON of an unknown type goes through the union of
every spec, whose error lists the types there are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers.spec import (
    SPEC_MODELS,
    AndSpec,
    AnySpec,
    CalendarIntervalSpec,
    CronSpec,
    DateSpec,
    IntervalSpec,
    OrSpec,
    trigger_spec_adapter,
)

if TYPE_CHECKING:
    from dueq.shared.triggers.base import Trigger

__all__ = ["trigger_from_dict", "trigger_from_spec"]


def trigger_from_dict(data: Mapping[str, Any]) -> Trigger:
    """The trigger a ``to_dict()`` result describes; bad data raises InvalidTriggerError."""
    if not isinstance(data, Mapping):
        raise InvalidTriggerError("trigger", data, "expected a JSON object with a 'type' key")
    kind = data.get("type")
    model = SPEC_MODELS.get(kind) if isinstance(kind, str) else None
    try:
        if model is None:
            spec = trigger_spec_adapter.validate_python(dict(data))
        else:
            spec = model.model_validate(dict(data))
    except ValidationError as exc:
        # The union puts the type first in every error's path; a model alone does not.
        raise _invalid(exc, () if model is None else (str(kind),)) from exc
    return trigger_from_spec(spec)


def _invalid(exc: ValidationError, within: tuple[str, ...]) -> InvalidTriggerError:
    """The first validation problem, named by its path (e.g. ``triggers.0.cron.minute``)."""
    error = exc.errors()[0]
    path = [*within, *(str(part) for part in error["loc"])]
    text = error.get("input")
    if error["type"] in _TAG_ERRORS:
        # The union reports a missing or unknown "type" at the object holding it.
        path.append("type")
        text = text.get("type") if isinstance(text, Mapping) else text
    return InvalidTriggerError(".".join(path), text, error["msg"])


def trigger_from_spec(spec: AnySpec) -> Trigger:
    """Build the trigger a validated spec model describes.

    Each trigger class is imported where it is built: a process reading only cron jobs
    never loads the others (an import already done costs a dictionary lookup).
    """
    match spec:
        case CronSpec():
            from dueq.shared.triggers.cron import CronTrigger

            return CronTrigger(
                **spec.model_dump(include=_CRON_FIELDS),
                day_or=spec.day_or,
                start_date=spec.start_date,
                end_date=spec.end_date,
                timezone=spec.timezone,
                jitter=spec.jitter,
            )
        case IntervalSpec():
            from dueq.shared.triggers.interval import IntervalTrigger

            return IntervalTrigger(**spec.model_dump(exclude={"type"}))
        case DateSpec():
            from dueq.shared.triggers.date import DateTrigger

            return DateTrigger(run_date=spec.run_date, timezone=spec.timezone)
        case CalendarIntervalSpec():
            from dueq.shared.triggers.calendarinterval import CalendarIntervalTrigger

            return CalendarIntervalTrigger(**spec.model_dump(exclude={"type"}))
        case AndSpec():
            from dueq.shared.triggers.combining import AndTrigger

            return AndTrigger([trigger_from_spec(s) for s in spec.triggers], jitter=spec.jitter)
        case OrSpec():
            from dueq.shared.triggers.combining import OrTrigger

            return OrTrigger([trigger_from_spec(s) for s in spec.triggers], jitter=spec.jitter)


_TAG_ERRORS = {"union_tag_invalid", "union_tag_not_found"}
_CRON_FIELDS = {"year", "month", "day", "week", "day_of_week", "hour", "minute", "second"}
