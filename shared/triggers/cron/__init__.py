"""CronTrigger and the crontab and APScheduler field languages it understands."""

from __future__ import annotations

from dueq.shared.triggers.cron.trigger import CronField, CronTrigger

__all__ = ["CronField", "CronTrigger"]
