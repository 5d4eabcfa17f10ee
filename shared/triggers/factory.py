"""build_trigger: APScheduler's ``add_job(trigger=..., **trigger_args)`` convention."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import tzinfo
from functools import partial
from typing import Any

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers.base import Trigger
from dueq.shared.triggers.calendarinterval import CalendarIntervalTrigger
from dueq.shared.triggers.combining import AndTrigger, OrTrigger
from dueq.shared.triggers.cron import CronTrigger
from dueq.shared.triggers.date import DateTrigger
from dueq.shared.triggers.interval import IntervalTrigger
from dueq.shared.triggers.zones import iana_zone_of

__all__ = ["TRIGGER_TYPES", "build_trigger"]

TRIGGER_TYPES: dict[str, Callable[..., Trigger]] = {
    "cron": CronTrigger,
    "interval": IntervalTrigger,
    "date": DateTrigger,
    "calendarinterval": CalendarIntervalTrigger,
    "and": AndTrigger,
    "or": OrTrigger,
}
# The arguments whose own zone, when one has it, beats the scheduler's default zone (in
# this order, as APScheduler 3 looks at them).
_ZONE_ANCHORS: dict[str, tuple[str, ...]] = {
    "cron": ("start_date", "end_date"),
    "interval": ("start_date", "end_date"),
    "date": ("run_date",),
    "calendarinterval": ("start_date",),
}


def build_trigger(
    trigger: str | Trigger | None,
    *,
    default_timezone: str | tzinfo | None = None,
    **trigger_args: Any,
) -> Trigger:
    """A trigger from a name and its arguments, as ``add_job`` takes them.

    ``"cron"``, ``"interval"``, ``"date"``, ``"calendarinterval"``, ``"and"``, ``"or"``;
    None means ``"date"`` (run once, now by default), a Trigger passes through
    unchanged, and text with spaces or starting with ``@`` is a crontab expression.
    A ``timezone`` among the arguments is the trigger's own zone, as in APScheduler;
    ``default_timezone`` is the scheduler's, used when the arguments name no zone and
    the anchor date (``start_date``/``run_date``) carries none either.
    """
    if isinstance(trigger, Trigger):
        if trigger_args:
            raise InvalidTriggerError(
                "trigger_args", sorted(trigger_args), "cannot be given with a Trigger instance"
            )
        return trigger
    if trigger is None:
        trigger = "date"
    if not isinstance(trigger, str):
        raise InvalidTriggerError("trigger", trigger, "expected a trigger name or a Trigger")
    if _is_crontab(trigger):
        from_text = partial(CronTrigger.from_crontab, trigger)
        return _build(trigger, from_text, _ZONE_ANCHORS["cron"], default_timezone, trigger_args)
    name = trigger.strip().lower()
    if name not in TRIGGER_TYPES:
        expected = ", ".join(sorted(TRIGGER_TYPES))
        raise InvalidTriggerError(
            "trigger", trigger, f"unknown trigger type; expected one of {expected}"
        )
    return _build(
        name, TRIGGER_TYPES[name], _ZONE_ANCHORS.get(name, ()), default_timezone, trigger_args
    )


def _is_crontab(text: str) -> bool:
    stripped = text.strip()
    return stripped.startswith("@") or len(stripped.split()) > 1


def _build(
    name: str,
    factory: Callable[..., Trigger],
    anchors: tuple[str, ...],
    default_zone: str | tzinfo | None,
    arguments: dict[str, Any],
) -> Trigger:
    _check_names(name, factory, arguments)
    if _wants_default_zone(anchors, default_zone, arguments):
        arguments = {**arguments, "timezone": default_zone}
    return factory(**arguments)


def _wants_default_zone(
    anchors: tuple[str, ...], default_zone: str | tzinfo | None, arguments: dict[str, Any]
) -> bool:
    """The default zone applies unless a zone is given or an anchor date carries one."""
    if not anchors or default_zone is None or arguments.get("timezone") is not None:
        return False
    return all(iana_zone_of(arguments.get(anchor)) is None for anchor in anchors)


def _check_names(name: str, factory: Callable[..., Trigger], arguments: dict[str, Any]) -> None:
    accepted = inspect.signature(factory).parameters
    for key, value in arguments.items():
        if key not in accepted:
            expected = ", ".join(accepted)
            raise InvalidTriggerError(
                key, value, f"is not an argument of the {name!r} trigger (expected {expected})"
            )
