"""The port: where jobs live, and the loop's two queries on them.

Every scheduler process, and every client process using the API, shares one store.  The
loop reads only due jobs through the ``next_run_time`` index and writes back a batch in one
transaction; nothing in the loop reads all jobs.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Sequence, Set
from dataclasses import dataclass
from datetime import datetime

from dueq.producer.job import Job
from dueq.producer.leader.base import Lease
from dueq.shared.errors import ConflictingIdError
from dueq.shared.triggers import Trigger

__all__ = ["JobStore", "JobUpdate", "SubmittedRun", "keep_schedule", "merge_batch"]


@dataclass(frozen=True, kw_only=True)
class JobUpdate:
    """The loop's decision for one due job, applied by ``JobStore.commit_batch``.

    ``seen_next_run_time`` is the value the loop read: if an API call changed the job's
    schedule in between (reschedule, pause, remove), that change wins and this update is
    dropped.  ``remove`` deletes a job whose trigger is exhausted.
    """

    job_id: str
    seen_next_run_time: datetime
    next_run_time: datetime | None
    next_fire_time: datetime | None
    remove: bool = False


@dataclass(frozen=True, kw_only=True)
class SubmittedRun:
    """A published run, recorded in run history with status ``submitted``."""

    run_id: str
    job_id: str
    scheduled_at: datetime
    published_at: datetime


class JobStore(ABC):
    """Jobs keyed by id, with ``next_run_time`` indexed (None while paused).

    Times are aware UTC datetimes.  Methods raise ``StoreUnavailable`` when the database
    cannot be reached (transient: the caller retries).
    """

    @abstractmethod
    def add_job(self, job: Job, *, replace_existing: bool = False) -> None:
        """Insert ``job``; with ``replace_existing`` overwrite a job with the same id.

        Raises ``ConflictingIdError`` if the id exists and ``replace_existing`` is False.
        """

    @abstractmethod
    def add_jobs(
        self,
        jobs: Sequence[Job],
        *,
        replace_existing: bool = False,
        explicit_times: Set[str] = frozenset(),
    ) -> None:
        """Insert ``jobs`` in one transaction: all of them or, on an error, none.

        Raises ``ConflictingIdError`` naming the id if two jobs of the batch share it, or one
        exists already, unless ``replace_existing``: then the last of the batch wins and
        overwrites the stored job, whose ``next_run_time``/``next_fire_time`` are kept when
        its trigger is unchanged (as ``Scheduler.add_job`` does, so re-adding jobs at
        start-up keeps their catch-up), except for the ids in ``explicit_times`` (the caller
        gave their next run time).
        """

    @abstractmethod
    def update_job(self, job: Job, *, schedule: bool = True) -> None:
        """Overwrite the stored job that has ``job.id`` with ``job``.

        With ``schedule=False`` the stored ``next_run_time`` and ``next_fire_time`` are left
        as they are (a change of name or arguments must not race the loop's progress).
        Raises ``JobLookupError`` if there is no such job.
        """

    @abstractmethod
    def remove_job(self, job_id: str) -> None:
        """Delete the job; raises ``JobLookupError`` if there is no such job."""

    @abstractmethod
    def remove_all_jobs(self) -> None:
        """Delete every job."""

    @abstractmethod
    def get_job(self, job_id: str) -> Job | None:
        """The job with ``job_id``, or None."""

    @abstractmethod
    def get_jobs(self) -> list[Job]:
        """Every job, soonest ``next_run_time`` first, paused jobs last (API use only)."""

    @abstractmethod
    def get_due_jobs(
        self, now: datetime, limit: int, *, exclude: Collection[str] = ()
    ) -> list[Job]:
        """At most ``limit`` jobs with ``next_run_time <= now``, soonest first.

        Jobs whose id is in ``exclude`` are skipped: the loop's batch still in flight,
        whose new ``next_run_time`` is not committed yet.
        """

    @abstractmethod
    def get_next_run_time(self) -> datetime | None:
        """The earliest ``next_run_time`` of any job, or None if nothing is scheduled."""

    @abstractmethod
    def commit_batch(
        self,
        updates: Sequence[JobUpdate],
        runs: Sequence[SubmittedRun],
        *,
        lease: Lease | None,
        now: datetime,
    ) -> None:
        """Apply ``updates`` and record ``runs`` in one transaction, fenced by ``lease``.

        If ``lease`` is given and is no longer current and unexpired at ``now``, nothing is
        written and ``LeaseLost`` is raised.  Each update applies only if the job's
        ``next_run_time`` still equals ``seen_next_run_time``.  A run already in the history
        (a republish, or a worker that reported first) keeps its status; it only gains
        ``published_at`` if it has none yet.
        """

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release connections held by the store."""


def merge_batch(jobs: Iterable[Job], *, replace_existing: bool) -> dict[str, Job]:
    """``jobs`` by id, the last of an id winning; a repeated id conflicts unless replacing."""
    merged: dict[str, Job] = {}
    for job in jobs:
        if job.id in merged and not replace_existing:
            raise ConflictingIdError(job.id)
        merged[job.id] = job
    return merged


def keep_schedule(
    job: Job,
    stored: Job | None,
    explicit_times: Set[str],
    same: Callable[[Trigger, Trigger], bool] = operator.eq,
) -> Job:
    """``job`` replacing ``stored``: with an unchanged trigger it keeps the stored times.

    ``same`` compares the triggers (a bulk add passes a memoizing one: comparing two
    triggers serializes both).
    """
    if stored is None or job.id in explicit_times or not same(stored.trigger, job.trigger):
        return job
    return job.replace(next_run_time=stored.next_run_time, next_fire_time=stored.next_fire_time)
