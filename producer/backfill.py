"""Backfill: run a job for every run-time its trigger had in a past range.

Each run-time becomes the RunRequest the loop would have published then, with the same
deterministic run id, and waits in the pending-runs store (``dueq_retries``, shared with
retries) for the leader to publish it, fenced by its lease.  The store schedules a run id
only once, ever (the run's history row is the key), so a repeated or overlapping backfill,
or a backfill over run-times the job already ran, runs nothing twice.

Backfilled runs ignore misfire grace and coalescing (they are late on purpose) and queue
up behind a busy job (``buffer_all``) instead of being skipped, unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from dueq.producer.job import Job
from dueq.producer.planner import build_request
from dueq.producer.retrystore import PendingRetry, RetryStore
from dueq.shared.errors import ConfigError
from dueq.shared.protocol import Overlap, RunRequest

__all__ = ["DEFAULT_MAX_RUNS", "BackfillProgress", "backfill", "run_times_between"]

# Run-times one backfill may publish unless the caller raises the bound: a typo in a range
# ("2016" for "2026") must not flood the queue with a decade of runs.
DEFAULT_MAX_RUNS = 10_000
# Runs scheduled per store transaction (and per progress report).
_CHUNK = 500


@dataclass(frozen=True, kw_only=True)
class BackfillProgress:
    """How far a backfill is: run-times handled of ``total``, and how many were new."""

    done: int
    total: int
    scheduled: int

    @property
    def skipped(self) -> int:
        """Run-times already scheduled or run before (by the trigger or a backfill)."""
        return self.done - self.scheduled


def run_times_between(job: Job, start: datetime, end: datetime, limit: int) -> list[datetime]:
    """The trigger's nominal run-times in ``[start, end]``; refuses more than ``limit``."""
    if end < start:
        raise ConfigError(f"the backfill range ends ({end}) before it starts ({start})")
    times: list[datetime] = []
    fire = job.trigger.next_fire_time_from(start)
    while fire is not None and fire <= end:
        if len(times) == limit:
            raise ConfigError(
                f"job {job.id} has more than {limit} run-times from {start} to {end}; "
                "backfill a smaller range or raise the bound (max_runs)"
            )
        times.append(fire)
        fire = job.trigger.get_next_fire_time(fire, fire)
    return times


def backfill(
    job: Job,
    run_times: list[datetime],
    store: RetryStore,
    *,
    now: datetime,
    overlap: Overlap = Overlap.BUFFER_ALL,
    progress: Callable[[BackfillProgress], None] | None = None,
) -> BackfillProgress:
    """Schedule ``job`` at each of ``run_times`` for the leader to publish now."""
    scheduled = done = 0
    for begin in range(0, len(run_times), _CHUNK):
        chunk = run_times[begin : begin + _CHUNK]
        pending = [
            PendingRetry(request=_request(job, at, now, overlap), due_at=now) for at in chunk
        ]
        scheduled += store.schedule(pending, now)
        done += len(chunk)
        if progress is not None:
            progress(BackfillProgress(done=done, total=len(run_times), scheduled=scheduled))
    return BackfillProgress(done=done, total=len(run_times), scheduled=scheduled)


def _request(job: Job, at: datetime, now: datetime, overlap: Overlap) -> RunRequest:
    request = build_request(job, at, epoch=0, published_at=now, following=None)
    # epoch and published_at are stamped again by the loop when it publishes.
    return request.model_copy(update={"misfire_grace_time": None, "overlap": overlap})
