"""Triggers: when jobs run (APScheduler 3's triggers, JSON-serialisable, DST-defined).

Every trigger is an immutable value with ``get_next_fire_time(previous, now)``,
``jittered(fire_time, following, key)`` and ``to_dict()``; ``trigger_from_dict``
rebuilds one and ``build_trigger`` makes one from ``add_job``-style arguments.

The names below load on first use (``lazy_exports``): a module that needs the ``Trigger``
type or ``trigger_from_dict`` does not import every trigger class, and reading a stored
cron trigger loads the cron trigger alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dueq.shared.lazyexports import lazy_exports

# Where each name lives; ``__all__`` and the type checker's imports below list the same
# names (a unit test holds them together).
_PUBLIC: dict[str, str] = {
    "AndTrigger": "dueq.shared.triggers.combining",
    "CalendarIntervalTrigger": "dueq.shared.triggers.calendarinterval",
    "CronTrigger": "dueq.shared.triggers.cron",
    "DateTrigger": "dueq.shared.triggers.date",
    "IntervalTrigger": "dueq.shared.triggers.interval",
    "OrTrigger": "dueq.shared.triggers.combining",
    "Trigger": "dueq.shared.triggers.base",
    "TriggerSpec": "dueq.shared.triggers.spec",
    "build_trigger": "dueq.shared.triggers.factory",
    "trigger_from_dict": "dueq.shared.triggers.serialization",
    "trigger_spec_adapter": "dueq.shared.triggers.spec",
}

__all__ = [
    "AndTrigger",
    "CalendarIntervalTrigger",
    "CronTrigger",
    "DateTrigger",
    "IntervalTrigger",
    "OrTrigger",
    "Trigger",
    "TriggerSpec",
    "build_trigger",
    "trigger_from_dict",
    "trigger_spec_adapter",
]

__getattr__, __dir__ = lazy_exports(globals(), _PUBLIC)

if TYPE_CHECKING:  # the type checker sees plain imports; at run time they load lazily
    from dueq.shared.triggers.base import Trigger
    from dueq.shared.triggers.calendarinterval import CalendarIntervalTrigger
    from dueq.shared.triggers.combining import AndTrigger, OrTrigger
    from dueq.shared.triggers.cron import CronTrigger
    from dueq.shared.triggers.date import DateTrigger
    from dueq.shared.triggers.factory import build_trigger
    from dueq.shared.triggers.interval import IntervalTrigger
    from dueq.shared.triggers.serialization import trigger_from_dict
    from dueq.shared.triggers.spec import TriggerSpec, trigger_spec_adapter
