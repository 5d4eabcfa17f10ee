"""``Job``: a scheduled job as users see it, like APScheduler's ``Job`` but a frozen value.

A ``Job`` is a snapshot read from the store; changing it goes through the ``Scheduler``
(``modify_job``, ``pause_job``, ...), never through attributes, so every change reaches the
store and the other processes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import Enum
from typing import Any, Final, Protocol

from pydantic import JsonValue

from dueq.shared.protocol import Overlap, RetryPolicy
from dueq.shared.triggers import Trigger

__all__ = ["UNSET", "Job", "JobControl", "Unset"]


class Unset(Enum):
    """Type of ``UNSET``: "not given, use the job default" (``None`` is a real value)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET
"""Marks an ``add_job``/``modify_job`` option that was not given (APScheduler's ``undefined``)."""


class JobControl(Protocol):
    """The scheduler verbs a ``Job`` handle calls (``Scheduler`` provides them)."""

    def modify_job(self, job_id: str, jobstore: str | None = None, **changes: Any) -> Job: ...

    def reschedule_job(
        self, job_id: str, trigger: Any = None, jobstore: str | None = None, **trigger_args: Any
    ) -> Job: ...

    def pause_job(self, job_id: str, jobstore: str | None = None) -> Job: ...

    def resume_job(self, job_id: str, jobstore: str | None = None) -> Job | None: ...

    def remove_job(self, job_id: str, jobstore: str | None = None) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Job:
    """One job: what to run (``func``, ``args``, ``kwargs``), when (``trigger``), where (``queue``).

    ``func`` is the wire reference (a registered name or ``module:qualname``), not a callable:
    the scheduler never imports job code.  ``next_run_time`` is when the scheduler will next
    publish a run (the trigger's time plus any jitter), ``None`` while paused;
    ``next_fire_time`` is the trigger's own time behind it.
    """

    id: str
    name: str
    func: str
    trigger: Trigger
    args: tuple[JsonValue, ...] = ()
    kwargs: Mapping[str, JsonValue] = field(default_factory=dict)
    misfire_grace_time: float | None = None
    coalesce: bool = True
    max_instances: int = 1
    queue: str = "default"
    #: Try a failing run again (None: never); see docs/run-control.md.
    retry: RetryPolicy | None = None
    #: Seconds a run may take before the worker stops it (None: no limit).
    timeout: float | None = None
    #: What a run does when ``max_instances`` are already running (default: skip).
    overlap: Overlap = Overlap.SKIP
    next_run_time: datetime | None = None
    next_fire_time: datetime | None = None
    # The scheduler that returned this job, for APScheduler's ``job.modify()`` & co.
    scheduler: JobControl | None = field(default=None, compare=False, repr=False)

    @property
    def executor(self) -> str:
        """APScheduler's executor alias: in dueq, the queue the job's runs go to."""
        return self.queue

    @property
    def jobstore(self) -> str:
        """APScheduler's job store alias; dueq keeps every job in one store."""
        return "default"

    def modify(self, **changes: Any) -> Job:
        """``scheduler.modify_job(job.id, **changes)``; returns the job as changed.

        Unlike APScheduler's, this ``Job`` is a snapshot: use the returned one.
        """
        return self._control().modify_job(self.id, **changes)

    def reschedule(self, trigger: Any, **trigger_args: Any) -> Job:
        """``scheduler.reschedule_job(job.id, trigger=trigger, **trigger_args)``."""
        return self._control().reschedule_job(self.id, trigger=trigger, **trigger_args)

    def pause(self) -> Job:
        """``scheduler.pause_job(job.id)``."""
        return self._control().pause_job(self.id)

    def resume(self) -> Job | None:
        """``scheduler.resume_job(job.id)`` (None if the job's trigger is done)."""
        return self._control().resume_job(self.id)

    def remove(self) -> None:
        """``scheduler.remove_job(job.id)``."""
        self._control().remove_job(self.id)

    def _control(self) -> JobControl:
        if self.scheduler is None:
            raise RuntimeError(
                f"job {self.id!r} was not returned by a scheduler; call the scheduler's verbs"
            )
        return self.scheduler

    @property
    def paused(self) -> bool:
        """True while the job has no next run time (paused, or never to fire again)."""
        return self.next_run_time is None

    @property
    def pending(self) -> bool:
        """Always False: dueq writes a job to the store at once, even before ``start()``.

        Kept for code written against APScheduler, where it means "not yet in a store".
        """
        return False

    def replace(self, **changes: Any) -> Job:
        """A copy with ``changes`` applied (the store is not touched)."""
        return dataclasses.replace(self, **changes)

    def describe(self, zone: tzinfo | None = None) -> str:
        """``name (trigger: ..., next run at: ...)`` as APScheduler prints it."""
        if self.next_run_time is None:
            status = "paused"
        else:
            shown = self.next_run_time.astimezone(zone) if zone else self.next_run_time
            status = f"next run at: {shown.isoformat(sep=' ')}"
        return f"{self.name} (trigger: {self.trigger}, {status})"

    def __str__(self) -> str:
        return self.describe()
