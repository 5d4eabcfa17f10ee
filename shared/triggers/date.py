"""DateTrigger: fires once."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from dueq.shared.triggers.base import Trigger
from dueq.shared.triggers.spec import DateSpec
from dueq.shared.triggers.zones import as_aware, require_aware, resolve_zone, to_utc

__all__ = ["DateTrigger"]


class DateTrigger(Trigger):
    """Fires once, at ``run_date`` (now when omitted), however late it is asked.

    As in APScheduler 3 a past ``run_date`` is still returned the first time, so the
    scheduler, not the trigger, decides whether the run was missed.
    """

    run_date: datetime
    timezone: ZoneInfo

    def __init__(
        self, run_date: datetime | str | None = None, timezone: str | tzinfo | None = None
    ) -> None:
        zone = resolve_zone(timezone, run_date)
        run = datetime.now(zone) if run_date is None else as_aware(run_date, zone, "run_date")
        self._freeze(run_date=run, timezone=zone)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        require_aware(now, "now")
        return self.run_date if previous_fire_time is None else None

    def next_fire_time_from(self, moment: datetime) -> datetime | None:
        return self.run_date if to_utc(self.run_date) >= to_utc(moment) else None

    def to_dict(self) -> dict[str, Any]:
        spec = DateSpec(run_date=self.run_date, timezone=self.timezone.key)
        return spec.model_dump(mode="json")

    def __str__(self) -> str:
        return f"date[{self.run_date.isoformat()}]"

    def __repr__(self) -> str:
        return (
            f"<DateTrigger (run_date='{self.run_date.isoformat()}',"
            f" timezone='{self.timezone.key}')>"
        )
