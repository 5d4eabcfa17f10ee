"""The next 24 hours of run-times, per minute, across every active job.

An operator sees the 00:00 storm before it happens.  Times are the triggers' nominal
fire times (jitter and coalescing left out: they move runs by seconds, not minutes), and
a run that is overdue counts in the current minute, as the scheduler will publish it now.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dueq.producer.job import Job

__all__ = ["HORIZON", "Forecast", "forecast"]

HORIZON = timedelta(hours=24)
# Fire times walked per job: an every-second job has 86,400 in a day; beyond this the
# forecast says it is truncated rather than stall the page.
MAX_FIRES_PER_JOB = 100_000
# Fire times walked in all: a cron trigger's next time costs ~15-90 us (quiet to loaded
# 2-core machine), so this bounds one forecast to a few seconds on a store of any size.
MAX_FIRES = 250_000


@dataclass(frozen=True, kw_only=True)
class Forecast:
    """Runs per minute (UTC minute start -> count) from ``start`` to ``start + HORIZON``."""

    start: datetime
    per_minute: dict[datetime, int]
    jobs: int
    truncated: bool

    @property
    def total(self) -> int:
        """Runs in the whole horizon."""
        return sum(self.per_minute.values())

    def busiest(self, count: int) -> list[tuple[datetime, int]]:
        """The ``count`` minutes with most runs, busiest first (earliest on ties)."""
        return sorted(self.per_minute.items(), key=lambda item: (-item[1], item[0]))[:count]


def forecast(jobs: Iterable[Job], now: datetime) -> Forecast:
    """Count every active job's fire times in the 24 hours from ``now``'s minute."""
    start = now.astimezone(UTC).replace(second=0, microsecond=0)
    end = start + HORIZON
    counts: Counter[datetime] = Counter()
    walked, active, truncated = 0, 0, False
    for job in jobs:
        if job.next_run_time is None:
            continue  # paused
        active += 1
        if walked >= MAX_FIRES:
            truncated = True
            continue
        fires, cut = _fire_times(job, start, end, now)
        walked += len(fires)
        truncated |= cut
        counts.update(_minute(max(fire, start)) for fire in fires)
    return Forecast(start=start, per_minute=dict(counts), jobs=active, truncated=truncated)


def _fire_times(
    job: Job, start: datetime, end: datetime, now: datetime
) -> tuple[list[datetime], bool]:
    """The job's fire times before ``end``; True if cut at ``MAX_FIRES_PER_JOB``.

    Overdue times all run now, or only one of them when the job coalesces.
    """
    fire = job.next_fire_time or job.next_run_time
    fires: list[datetime] = []
    while fire is not None and fire < end:
        if len(fires) >= MAX_FIRES_PER_JOB:
            return fires, True
        if fire >= now or not (job.coalesce and fires):
            fires.append(fire)
        fire = job.trigger.get_next_fire_time(fire, now)
    return fires, False


def _minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)
