"""Triggers: when jobs run (APScheduler 3's triggers, JSON-serialisable, DST-defined).

Every trigger is an immutable value with ``get_next_fire_time(previous, now)``,
``jittered(fire_time, following, key)`` and ``to_dict()``; ``trigger_from_dict``
rebuilds one and ``build_trigger`` makes one from ``add_job``-style arguments.
"""

from __future__ import annotations

from dueq.shared.triggers.base import Trigger
from dueq.shared.triggers.calendarinterval import CalendarIntervalTrigger
from dueq.shared.triggers.combining import AndTrigger, OrTrigger
from dueq.shared.triggers.cron import CronTrigger
from dueq.shared.triggers.date import DateTrigger
from dueq.shared.triggers.factory import build_trigger
from dueq.shared.triggers.interval import IntervalTrigger
from dueq.shared.triggers.serialization import trigger_from_dict
from dueq.shared.triggers.spec import TriggerSpec, trigger_spec_adapter

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
