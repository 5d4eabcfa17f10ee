"""Triggers: when jobs run (APScheduler 3's triggers, JSON-serialisable, DST-defined).

Every trigger is an immutable value with ``get_next_fire_time(previous, now)``,
``jittered(fire_time, following, key)`` and ``to_dict()``; ``trigger_from_dict``
rebuilds one and ``build_trigger`` makes one from ``add_job``-style arguments.
"""

from __future__ import annotations

from shared.triggers.base import Trigger
from shared.triggers.calendarinterval import CalendarIntervalTrigger
from shared.triggers.combining import AndTrigger, OrTrigger
from shared.triggers.cron import CronTrigger
from shared.triggers.date import DateTrigger
from shared.triggers.factory import build_trigger
from shared.triggers.interval import IntervalTrigger
from shared.triggers.serialization import trigger_from_dict
from shared.triggers.spec import TriggerSpec, trigger_spec_adapter

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
