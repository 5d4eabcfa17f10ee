"""In-process job store: for unit tests and for trying the API without a database."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Collection, Sequence, Set
from datetime import datetime

from dueq.producer.history.memory import MemoryRunHistory
from dueq.producer.job import Job
from dueq.producer.leader.base import Lease, LeaseLost
from dueq.producer.leader.memory import MemoryLeaderLease
from dueq.producer.store.base import JobStore, JobUpdate, SubmittedRun, keep_schedule, merge_batch
from dueq.shared.errors import ConflictingIdError, JobLookupError

__all__ = ["MemoryJobStore"]


class MemoryJobStore(JobStore):
    """Jobs in a dict plus a sorted ``(next_run_time, id)`` index, behind one lock.

    ``leader`` (for fencing) and ``history`` (for submitted runs) stand in for the tables a
    SQL store shares with the lease and the run history.
    """

    def __init__(
        self,
        leader: MemoryLeaderLease | None = None,
        history: MemoryRunHistory | None = None,
    ) -> None:
        self._leader = leader
        self._history = history
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._index: list[tuple[datetime, str]] = []

    def add_job(self, job: Job, *, replace_existing: bool = False) -> None:
        with self._lock:
            if job.id in self._jobs and not replace_existing:
                raise ConflictingIdError(job.id)
            self._put(job)

    def add_jobs(
        self,
        jobs: Sequence[Job],
        *,
        replace_existing: bool = False,
        explicit_times: Set[str] = frozenset(),
    ) -> None:
        merged = merge_batch(jobs, replace_existing=replace_existing)
        with self._lock:
            if not replace_existing:
                for job_id in merged:
                    if job_id in self._jobs:
                        raise ConflictingIdError(job_id)
            for job in merged.values():
                self._put(keep_schedule(job, self._jobs.get(job.id), explicit_times))

    def update_job(self, job: Job, *, schedule: bool = True) -> None:
        with self._lock:
            stored = self._jobs.get(job.id)
            if stored is None:
                raise JobLookupError(job.id)
            if not schedule:
                job = job.replace(
                    next_run_time=stored.next_run_time, next_fire_time=stored.next_fire_time
                )
            self._put(job)

    def remove_job(self, job_id: str) -> None:
        with self._lock:
            if job_id not in self._jobs:
                raise JobLookupError(job_id)
            self._drop(job_id)

    def remove_all_jobs(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._index.clear()

    def get_job(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def get_jobs(self) -> list[Job]:
        with self._lock:
            scheduled = [self._jobs[job_id] for _, job_id in self._index]
            paused = sorted(
                (job for job in self._jobs.values() if job.next_run_time is None),
                key=lambda job: job.id,
            )
            return scheduled + paused

    def get_due_jobs(
        self, now: datetime, limit: int, *, exclude: Collection[str] = ()
    ) -> list[Job]:
        with self._lock:
            due: list[Job] = []
            for run_time, job_id in self._index[: limit + len(exclude)]:
                if run_time > now or len(due) == limit:
                    break
                if job_id not in exclude:
                    due.append(self._jobs[job_id])
            return due

    def get_next_run_time(self) -> datetime | None:
        with self._lock:
            return self._index[0][0] if self._index else None

    def commit_batch(
        self,
        updates: Sequence[JobUpdate],
        runs: Sequence[SubmittedRun],
        *,
        lease: Lease | None,
        now: datetime,
    ) -> None:
        with self._lock:
            if lease is not None and not self._is_current(lease, now):
                raise LeaseLost(f"lease epoch {lease.epoch} is no longer current")
            for update in updates:
                self._apply(update)
            if self._history is not None:
                self._history.add_submitted(runs)

    def _is_current(self, lease: Lease, now: datetime) -> bool:
        return self._leader is None or self._leader.is_current(lease, now)

    def _apply(self, update: JobUpdate) -> None:
        stored = self._jobs.get(update.job_id)
        if stored is None or stored.next_run_time != update.seen_next_run_time:
            return  # changed through the API since the loop read it: that change wins
        if update.remove:
            self._drop(update.job_id)
        else:
            self._put(
                stored.replace(
                    next_run_time=update.next_run_time, next_fire_time=update.next_fire_time
                )
            )

    def _put(self, job: Job) -> None:
        if job.id in self._jobs:
            self._drop(job.id)
        self._jobs[job.id] = job
        if job.next_run_time is not None:
            bisect.insort(self._index, (job.next_run_time, job.id))

    def _drop(self, job_id: str) -> None:
        job = self._jobs.pop(job_id)
        if job.next_run_time is not None:
            position = bisect.bisect_left(self._index, (job.next_run_time, job_id))
            del self._index[position]
